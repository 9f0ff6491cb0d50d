"""Near-duplicate keys: syndicated copies are near, different stories are not, folding is free."""

from __future__ import annotations

import subprocess
import sys

from monitor.clusters import EMPTY, MAX_DISTANCE, bands, distance, near, simhash

RATE_SUMMARY = (
    "The central bank lifted its benchmark rate by two percentage points on Friday, its "
    "largest move since the spring, and said price growth was running far above its 4% "
    "target. The governor told reporters that further tightening was still on the table."
)
SHOIGU_SUMMARY = (
    "The president signed a decree moving the long-serving defence minister to the security "
    "council and named a civilian economist to run the ministry, a reshuffle officials "
    "described as a bid to control soaring military spending."
)


def test_one_story_with_a_reworded_headline_is_near() -> None:
    a = simhash("Bank of Russia raises key rate to 21% as inflation refuses to cool", RATE_SUMMARY)
    b = simhash("Bank of Russia hikes key rate to 21% as inflation refuses to cool", RATE_SUMMARY)
    c = simhash("Bank of Russia hikes key rate to 21% as inflation refuses to ease", RATE_SUMMARY)
    assert near(a, b)
    assert near(a, c)


def test_one_story_with_a_dateline_and_a_new_verb_is_near() -> None:
    a = simhash("Putin moves Shoigu out of the defence ministry", SHOIGU_SUMMARY)
    b = simhash("Putin shifts Shoigu out of the defence ministry", "MOSCOW - " + SHOIGU_SUMMARY)
    assert near(a, b)


def test_different_stories_on_one_subject_are_far_apart() -> None:
    hike = simhash(
        "Bank of Russia raises key rate to 21% as inflation refuses to cool", RATE_SUMMARY
    )
    hold = simhash(
        "Bank of Russia holds key rate at 21% and hints at cuts next year",
        "Policymakers left borrowing costs unchanged for a second meeting, saying inflation "
        "had begun to slow and that easing could start in the first quarter if it kept falling.",
    )
    reshuffle = simhash("Putin moves Shoigu out of the defence ministry", SHOIGU_SUMMARY)
    shoigu_visit = simhash(
        "Shoigu visits Pyongyang for talks on military cooperation",
        "The security council secretary met North Korea's leader and discussed arms supplies, "
        "state media said, in his second trip to the country this year.",
    )
    assert not near(hike, hold)
    assert not near(reshuffle, shoigu_visit)
    assert distance(hike, hold) > 3 * MAX_DISTANCE
    assert distance(reshuffle, shoigu_visit) > 3 * MAX_DISTANCE


def test_case_yo_and_quotes_do_not_change_the_key() -> None:
    plain = simhash(
        "Генерал Гурулёв критикует «Минобороны» за потери",
        "Депутат сказал, что 'ошибки' повторяются",
    )
    folded = simhash(
        'ГЕНЕРАЛ ГУРУЛЕВ критикует "минобороны" за потери',
        "депутат сказал, что ‘ошибки’ повторяются",
    )
    assert plain == folded


def test_the_key_is_pinned_and_fits_a_signed_int64() -> None:
    h = simhash("Bank of Russia raises key rate to 21% as inflation refuses to cool", RATE_SUMMARY)
    assert h == PINNED
    assert -(2**63) <= h < 2**63


def test_the_key_is_the_same_in_a_fresh_process() -> None:
    # A different PYTHONHASHSEED proves the key never depends on Python's hash().
    code = (
        "from monitor.clusters import simhash; "
        "print(simhash('Putin moves Shoigu out of the defence ministry', 'A decree on Monday'))"
    )
    env = {"PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert int(out.stdout) == simhash(
        "Putin moves Shoigu out of the defence ministry", "A decree on Monday"
    )


def test_too_little_text_is_near_nothing() -> None:
    assert simhash("Live updates", "") == EMPTY
    assert simhash("", "") == EMPTY
    assert not near(EMPTY, EMPTY)


def test_bands_cut_the_unsigned_key_into_four_16_bit_parts() -> None:
    assert bands(-1) == (0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    assert bands(0x0004_0003_0002_0001) == (1, 2, 3, 4)
    assert bands(-(2**63)) == (0, 0, 0, 0x8000)


def test_keys_within_the_threshold_always_share_a_band() -> None:
    key = 0x1234_5678_9ABC_DEF0
    for flips in ((0, 17, 33), (15, 16, 63), (1, 2, 3)):
        other = key
        for bit in flips:
            other ^= 1 << bit
        assert near(key, other)
        assert any(x == y for x, y in zip(bands(key), bands(other), strict=True))
    assert not near(key, key ^ 0b1111)


PINNED = -7794946422173588606
