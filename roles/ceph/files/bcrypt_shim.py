# Installed by reforge.hci's ceph role as bcrypt/__init__.py on ceph-mgr's
# PYTHONPATH only (never for other programs).
#
# Why: Ceph 18's mgr_util.py imports bcrypt at module level, and every mgr
# module runs in its own Python subinterpreter. Debian 13's python3-bcrypt is
# a PyO3 (Rust) extension, which can be initialised in one interpreter per
# process only, so every mgr module after the first fails to load
# (MGR_MODULE_DEPENDENCY: "PyO3 modules do not yet support subinterpreters")
# and the cluster never reaches HEALTH_OK. Only the dashboard's password
# hashing calls bcrypt; the modules this deployment uses never do. This
# stand-in keeps the import cheap and fails loudly if something does call it.
# Ceph 19 moved these calls out of process, which removes the need for it.

__all__ = ["gensalt", "hashpw", "checkpw", "kdf"]


def _unavailable(*_args, **_kwargs):
    raise RuntimeError(
        "bcrypt is not available inside ceph-mgr on this platform "
        "(PyO3 extensions cannot load in mgr subinterpreters); see the reforge.hci ceph role")


gensalt = hashpw = checkpw = kdf = _unavailable
