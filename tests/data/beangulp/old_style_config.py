"""An importer written against beangulp's old ImporterProtocol interface."""

import datetime
from decimal import Decimal

from beancount.core import amount, data
from beangulp.importer import ImporterProtocol


class OldImporter(ImporterProtocol):
    def identify(self, file):
        return file.name.endswith("old.txt")

    def file_account(self, file):
        return "Liabilities:Card"

    def extract(self, file, existing_entries=None):
        meta = data.new_metadata(file.name, 2)
        meta["transaction_id"] = 77
        posting = data.Posting(
            "Liabilities:Card", amount.Amount(Decimal("-19.99"), "USD"), None, None, None, None
        )
        txn = data.Transaction(
            meta, datetime.date(2024, 5, 2), "*", None, "Streaming", set(), set(), [posting]
        )
        return [txn]


importers = [OldImporter()]
