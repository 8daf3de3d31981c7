.PHONY: serve test lint fmt migrations bench
serve:
	./scripts/serve
test:
	./scripts/test
lint:
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy src
	.venv/bin/lint-imports
fmt:
	.venv/bin/ruff check --fix src tests bench
	.venv/bin/ruff format src tests bench
migrations:
	DJANGO_SETTINGS_MODULE=strongroom.config.settings .venv/bin/django-admin makemigrations
bench:
	.venv/bin/python bench/run.py
