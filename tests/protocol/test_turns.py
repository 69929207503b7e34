"""The book of turns: starts at an account's cap of runs in flight go one per freed slot, in order."""

from __future__ import annotations

import math

from airflow_provider_sim.protocol.turns import MAX_PROBE_SECONDS, Turn, TurnBook

NOW = 1_000.0


def at_cap(book: TurnBook, waiting: int, *, retry_after: float = 5.0) -> list[Turn]:
    """``waiting`` starts in line after Sim refused the first of them for the cap."""
    turns = [book.join() for _ in range(waiting)]
    book.ask(turns[0])
    book.refused(turns[0], retry_after, NOW)
    return turns


def test_until_sim_refuses_one_every_start_goes_at_once() -> None:
    book = TurnBook()
    turns = [book.join() for _ in range(3)]
    assert [book.wait(t, NOW) for t in turns] == [0.0, 0.0, 0.0]
    assert not book.full


def test_after_a_refusal_starts_wait_for_a_run_to_end_and_go_in_order() -> None:
    book = TurnBook()
    first, second, third = at_cap(book, 3)
    assert book.full and len(book) == 3
    assert book.wait(first, NOW) == 5.0  # the head may probe after Retry-After
    assert book.wait(second, NOW) == math.inf and book.wait(third, NOW) == math.inf
    book.run_ended()
    assert book.wait(first, NOW) == 0.0 and book.wait(second, NOW) == 5.0
    book.ask(first)
    book.admitted()
    assert book.wait(second, NOW) == 5.0 and book.wait(third, NOW) == math.inf


def test_a_refused_start_keeps_its_place_at_the_head() -> None:
    book = TurnBook()
    first, second = at_cap(book, 2)
    book.run_ended()
    book.ask(first)
    book.refused(first, 5.0, NOW)  # another client took the slot
    assert book.wait(first, NOW) == 5.0 and book.wait(second, NOW) == math.inf


def test_probes_slow_down_while_sim_keeps_refusing_them_and_speed_up_once_admitted() -> None:
    book = TurnBook()
    [turn, other] = at_cap(book, 2, retry_after=5.0)
    gaps = []
    for _ in range(6):
        now = NOW + 1_000 * len(gaps)
        assert book.wait(turn, now) == 0.0 or gaps == []
        book.ask(turn)
        book.refused(turn, 5.0, now)
        gaps.append(book.wait(turn, now))
    assert gaps == [10.0, 20.0, 40.0, MAX_PROBE_SECONDS, MAX_PROBE_SECONDS, MAX_PROBE_SECONDS]
    later = NOW + 10_000
    book.ask(turn)
    book.admitted()  # a slot the book did not see free: the next one may try at once
    assert book.wait(other, later) == 0.0


def test_one_probe_at_a_time() -> None:
    book = TurnBook()
    first, second = at_cap(book, 2, retry_after=1.0)
    book.ask(first)  # the probe, after its Retry-After
    assert book.wait(second, NOW + 5) == math.inf


def test_the_book_opens_again_when_nobody_waits() -> None:
    book = TurnBook()
    [turn] = at_cap(book, 1)
    book.run_ended()
    book.ask(turn)
    book.admitted()
    assert not book.full
    assert book.wait(book.join(), NOW) == 0.0


def test_a_start_that_leaves_or_fails_frees_its_place() -> None:
    book = TurnBook()
    first, second = at_cap(book, 2)
    book.leave(first)
    assert book.wait(second, NOW) == 5.0
    book.ask(second)
    book.failed()  # e.g. 402: says nothing about slots
    third = book.join()
    assert book.wait(third, NOW) == 5.0
