"""A config that defines importers under a name beangulp does not know."""

MY_IMPORTERS = []
