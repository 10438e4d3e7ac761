"""deskhand.sync: backfill and incremental sync of each account into the local replica.

sync_account(rt, name, *, full=False, progress=None) -> SyncStats     (deskhand.sync.engine)
replica.summary(engine, account) -> counts + checksum                   (deskhand.sync.replica)
start_sync_loop(rt, interval_s, stop) -> Thread                          (deskhand.sync.loop)
"""
