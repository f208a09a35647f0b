# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server CPU generations: data only (read by reuse.py's cpu_generation()).

Sources: Intel ARK's processor numbering of the Xeon families (E5/E7 v1-v4, Xeon Scalable
1st-5th gen "x1xx..x5xx", Xeon 6 "6xxxP/E" with the 6900/6700/6500/6300 series), AMD's EPYC
model numbering (last digit = generation: 7xx1 Naples ... 9xx5 Turin; 4004/8004 Siena/Genoa
variants), checked against the launch dates on the vendors' product pages. A model that no
pattern matches is reported as unknown, never guessed.

Each row: (vendor, regular expression searched in the BMC's CPU model string, generation name,
launch year, rank within the vendor: higher is newer). First match wins, so more specific
patterns come first. Add rows here when new parts ship; nothing else needs to change.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

CPU_GENERATIONS = (
    # -- Intel Xeon 6 (2024-2025): 6900P/6700P/6500P/6300P Granite Rapids, 6900E/6700E Sierra Forest
    ("intel", r"Xeon\(?R?\)?\s+6\d{3}E\b|\bXeon 6 ?\d{3}E\b", "Sierra Forest", 2024, 14),
    ("intel", r"Xeon\(?R?\)?\s+6\d{3}PE?\b|\bXeon 6 ?\d{3}P\b", "Granite Rapids", 2024, 15),
    # -- Intel Xeon Scalable: the second digit of the model number is the generation
    ("intel", r"(Platinum|Gold|Silver|Bronze)\s+\d5\d{2}", "Emerald Rapids", 2023, 13),
    ("intel", r"(Platinum|Gold|Silver|Bronze|Max)\s+\d4\d{2}", "Sapphire Rapids", 2023, 12),
    ("intel", r"(Platinum|Gold|Silver|Bronze)\s+\d3\d{2}", "Ice Lake", 2021, 11),
    ("intel", r"(Platinum|Gold|Silver|Bronze)\s+\d2\d{2}", "Cascade Lake", 2019, 10),
    ("intel", r"(Platinum|Gold|Silver|Bronze)\s+\d1\d{2}", "Skylake", 2017, 9),
    # -- Intel Xeon E5/E7
    ("intel", r"E[57]-\d{4}[A-Z]* v4", "Broadwell", 2016, 8),
    ("intel", r"E[57]-\d{4}[A-Z]* v3", "Haswell", 2014, 7),
    ("intel", r"E[57]-\d{4}[A-Z]* v2", "Ivy Bridge", 2013, 6),
    ("intel", r"E5-\d{4}[A-Z]*(?! v)|E5-\d{4}[A-Z]* 0", "Sandy Bridge", 2012, 5),
    ("intel", r"\b[XEL][57]\d{3}\b", "Westmere/Nehalem", 2010, 4),
    # -- AMD EPYC: the last digit of the model number is the generation
    ("amd", r"EPYC\s+9\d\d5", "Turin", 2024, 5),
    ("amd", r"EPYC\s+97\d4", "Bergamo", 2023, 4),
    ("amd", r"EPYC\s+9\d\d4", "Genoa", 2022, 4),
    ("amd", r"EPYC\s+8\d\d4", "Siena", 2023, 4),
    ("amd", r"EPYC\s+4\d\d4", "Raphael (EPYC 4004)", 2024, 4),
    ("amd", r"EPYC\s+7\d\d3", "Milan", 2021, 3),
    ("amd", r"EPYC\s+7\d\d2", "Rome", 2019, 2),
    ("amd", r"EPYC\s+7\d\d1", "Naples", 2017, 1),
)

# The oldest generation per vendor that still gets microcode (security) updates, the default
# threshold below which a server is graded "retire". Intel's microcode releases
# (github.com/intel/Intel-Linux-Processor-Microcode-Data-Files) no longer service Xeon E5/E7 v3/v4
# (Haswell/Broadwell); Xeon Scalable from Skylake on is serviced. AMD still ships microcode and
# platform fixes for every EPYC generation. Override per campus (reuse_report_criteria).
OLDEST_SUPPORTED = {"intel": "Skylake", "amd": "Naples"}
