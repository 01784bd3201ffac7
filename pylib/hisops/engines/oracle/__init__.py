"""Oracle: the hospital's HIS database, its Active Data Guard standby and GoldenGate replica.

One module per concern, each pure where it can be (text or rows in, dataclasses and findings
out) so it is tested on real-format fixtures without a server:

* :mod:`.connect`: thin-mode connections (no Instant Client), credentials from the vault,
  the environment or an Oracle wallet, never logged.
* :mod:`.rman`: the backup catalogue and validate/preview logs (:class:`OracleEngine`);
  :mod:`.rman_log`: backup transcripts.
* :mod:`.sql`: the backup views (``V$RMAN_BACKUP_JOB_DETAILS``, corruption, archive lag).
* :mod:`.inspect_sql`: the quarterly inspection's queries and typed rows; :mod:`.inspect`: the
  rules that judge them, the snapshot, the reading.
* :mod:`.sqlplus`: query results read as CSV from SQL*Plus on a database host.
* :mod:`.goldengate`: GoldenGate ``info all`` / ``lag`` and the microservices REST answers.
* :mod:`.opatch`, :mod:`.patch`, :mod:`.patch_facts`: patch tool output, the standby-first
  patch plan, and the estate built from what the homes answer.
* :mod:`.recovery`, :mod:`.failover`: the emergency restore and the Data Guard alternative.
* :mod:`.baseline_sql`, :mod:`.baseline`: the configuration baseline.
"""
