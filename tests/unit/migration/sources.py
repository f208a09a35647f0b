"""A local sparse file as copy source: the same read(offset, length) surface as the datastore reader."""
import os
import threading

from lab.sparse import data_extents


# Data extents of a sparse file from SEEK_DATA/SEEK_HOLE, like CBT's ``*`` answer.
allocated_extents = data_extents


class FileSource:
    def __init__(self, path, fail_after=None):
        self.fd = os.open(path, os.O_RDONLY)
        self.bytes_read = 0
        self.reads = 0
        self.fail_after = fail_after
        self.lock = threading.Lock()

    def read(self, offset, length):
        with self.lock:
            if self.fail_after is not None and self.reads >= self.fail_after:
                raise IOError("injected source failure after %d reads" % self.reads)
            self.reads += 1
            self.bytes_read += length
        return os.pread(self.fd, length, offset)
