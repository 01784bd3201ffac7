"""Audited data corrections ("datafixes"): a runbook's ``sql`` step finds the rows a fix may
change, bounds their number, keeps their before-images, runs the fix and its checks in one
transaction, and can be undone exactly (``hisops datafix undo RUN_ID``). docs/datafix.md."""
