"""Fixtures shared by the migration tests: the lab vCenter and a pyVmomi session to it."""
import pytest

from migration_labvc import LabVC


@pytest.fixture(scope="module")
def vc(lab):
    return LabVC(lab.get("vcsim"))


@pytest.fixture
def conn(vc):
    connection = vc.connect()
    yield connection
    vc.clear_faults()
    connection.close()
