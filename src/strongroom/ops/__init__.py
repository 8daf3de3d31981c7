"""Operations: backups and restores, Prometheus metrics."""
