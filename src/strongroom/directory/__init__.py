"""Sign-in through the company directory: LDAP / Active Directory (bind, groups, sync)."""
