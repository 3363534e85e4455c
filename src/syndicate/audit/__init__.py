"""Proof of what was published: the ledger's hash chain, verification, consistency across media."""
