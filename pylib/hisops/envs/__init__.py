"""Environments: protected production and DR, test copies refreshed from verified backups with
patient data masked, and the differences between two environments."""
