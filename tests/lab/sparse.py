"""Where a sparse file holds data: the tests' oracle for "allocated blocks only" and "target equals source".

It asks the file system (SEEK_DATA/SEEK_HOLE), never the engine, so a copy is
checked against what is really on disk, not against what the copy believes.
"""
import os


def data_extents(path):
    """(offset, length) of every data extent of the file at path, in order."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end - start))
            pos = end
    finally:
        os.close(fd)
    return out
