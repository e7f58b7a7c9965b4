"""Redis's partial quicksort (pqsort.c: NetBSD's Bentley-McIlroy qsort that skips the partitions
outside the wanted range), element for element.

Redis sorts with it when only part of the result is returned (GEOSEARCH ... COUNT, SORT ... BY
... LIMIT). It is not stable, so elements that compare equal come out in an order only this exact
algorithm reproduces; xcache uses it in the same places to give the same replies.
"""

from __future__ import annotations

from collections.abc import Callable


def pqsort(arr: list, cmp: Callable[[object, object], int], first: int, last: int) -> None:
    """Sort arr in place enough that positions first..last hold what a full sort puts there."""
    _pqsort(arr, 0, len(arr), cmp, first, last)


def _med3(arr: list, a: int, b: int, c: int, cmp) -> int:
    if cmp(arr[a], arr[b]) < 0:
        if cmp(arr[b], arr[c]) < 0:
            return b
        return c if cmp(arr[a], arr[c]) < 0 else a
    if cmp(arr[b], arr[c]) > 0:
        return b
    return a if cmp(arr[a], arr[c]) < 0 else c


def _insertion(arr: list, a: int, n: int, cmp) -> None:
    for m in range(a + 1, a + n):
        i = m
        while i > a and cmp(arr[i - 1], arr[i]) > 0:
            arr[i], arr[i - 1] = arr[i - 1], arr[i]
            i -= 1


def _vecswap(arr: list, i: int, j: int, n: int) -> None:
    for k in range(n):
        arr[i + k], arr[j + k] = arr[j + k], arr[i + k]


def _pqsort(arr: list, a: int, n: int, cmp, lo: int, hi: int) -> None:
    while True:
        if n < 7:
            _insertion(arr, a, n, cmp)
            return
        pm = a + n // 2
        if n > 7:
            pl, pn = a, a + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(arr, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(arr, pm - d, pm, pm + d, cmp)
                pn = _med3(arr, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(arr, pl, pm, pn, cmp)
        arr[a], arr[pm] = arr[pm], arr[a]
        pa = pb = a + 1
        pc = pd = a + n - 1
        swapped = False
        while True:
            while pb <= pc:
                r = cmp(arr[pb], arr[a])
                if r > 0:
                    break
                if r == 0:
                    swapped = True
                    arr[pa], arr[pb] = arr[pb], arr[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(arr[pc], arr[a])
                if r < 0:
                    break
                if r == 0:
                    swapped = True
                    arr[pc], arr[pd] = arr[pd], arr[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            arr[pb], arr[pc] = arr[pc], arr[pb]
            swapped = True
            pb += 1
            pc -= 1
        if not swapped:
            _insertion(arr, a, n, cmp)
            return
        pn = a + n
        r = min(pa - a, pb - pa)
        _vecswap(arr, a, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _vecswap(arr, pb, pn - r, r)
        r = pb - pa
        if r > 1 and not (hi < a or lo >= a + r):
            _pqsort(arr, a, r, cmp, lo, hi)
        r = pd - pc
        if r <= 1:
            return
        a, n = pn - r, r
        if hi < a or lo >= a + r:
            return
