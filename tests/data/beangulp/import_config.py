"""A beangulp import config as a user would write it, built on beangulp's CSV base."""

import re

import beangulp
from beangulp.importers import csvbase


class BankImporter(csvbase.Importer):
    date = csvbase.Date("Date", "%Y-%m-%d")
    narration = csvbase.Column("Details")
    payee = csvbase.Column("Payee")
    amount = csvbase.Amount("Amount")
    balance = csvbase.Amount("Balance")
    reference = csvbase.Column("Reference")

    def identify(self, filepath):
        return re.search(r"(^|/)bank\.csv$", filepath) is not None

    def metadata(self, filepath, lineno, row):
        meta = super().metadata(filepath, lineno, row)
        meta["ref"] = row.reference
        return meta


class ChequeImporter(csvbase.Importer):
    """Identifies nothing in the tests: the bridge must move on to the next importer."""

    date = csvbase.Date("Date", "%d/%m/%Y")
    narration = csvbase.Column("Text")
    amount = csvbase.Amount("Value")

    def identify(self, filepath):
        return filepath.endswith(".cheques.csv")


CONFIG = [
    ChequeImporter("Assets:Bank:Cheques", "EUR"),
    BankImporter("Assets:Bank:Checking", "EUR"),
]

if __name__ == "__main__":
    beangulp.Ingest(CONFIG)()
