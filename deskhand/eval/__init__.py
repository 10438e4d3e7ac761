"""deskhand.eval: quality evaluations on the public datasets in ``shared/eval`` (figures printed)."""
