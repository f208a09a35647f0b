# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token-bucket throttle shared by every read stream of a sync, so production is not hurt."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import threading
import time
from typing import Optional


class Throttle:
    """Limit bytes per second across threads; ``rate`` None or 0 means unlimited."""

    def __init__(self, rate: Optional[float], burst_seconds: float = 0.25) -> None:
        self.rate = float(rate) if rate else 0.0
        self._capacity = self.rate * burst_seconds
        self._tokens = self._capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self, amount: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            debt = -self._tokens
        if debt > 0:
            time.sleep(debt / self.rate)
