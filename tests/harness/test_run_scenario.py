#!/usr/bin/env python3
"""Checks the scenario harness's verdicts on canned serial transcripts."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_scenario  # noqa: E402
from run_scenario import qemu  # noqa: E402

GOOD = ["booting", "ok 1 - a", "ok 2 - b", "2 passed, 0 failed", ""]


class Verdicts(unittest.TestCase):
    def test_good_run_passes(self):
        self.assertIsNone(run_scenario.judge_pass(qemu.EXIT_SUCCESS, GOOD))

    def test_wrong_exit_status_fails(self):
        self.assertIn("exit status 35", run_scenario.judge_pass(qemu.EXIT_FAILURE, GOOD))

    def test_failed_case_fails(self):
        lines = ["ok 1 - a", "not ok 2 - b: x", "1 passed, 1 failed"]
        self.assertEqual(run_scenario.judge_pass(qemu.EXIT_SUCCESS, lines), "1 case(s) failed")

    def test_missing_summary_fails(self):
        self.assertIn("no 'N passed", run_scenario.judge_pass(qemu.EXIT_SUCCESS, ["ok 1 - a"]))

    def test_zero_cases_fails(self):
        self.assertEqual(run_scenario.judge_pass(qemu.EXIT_SUCCESS, ["0 passed, 0 failed"]), "no case ran")

    def test_summary_disagreeing_with_lines_fails(self):
        lines = ["ok 1 - a", "3 passed, 0 failed"]
        self.assertIn("summary says 3 passed", run_scenario.judge_pass(qemu.EXIT_SUCCESS, lines))

    def test_panic_fails_a_pass_scenario_and_passes_a_panic_one(self):
        lines = GOOD + ["*** KERNEL PANIC: boom"]
        self.assertEqual(run_scenario.judge_pass(qemu.EXIT_SUCCESS, lines), "the kernel panicked")
        self.assertIsNone(run_scenario.judge_panic(qemu.EXIT_PANIC, lines))
        self.assertIn("no 'KERNEL PANIC'", run_scenario.judge_panic(qemu.EXIT_PANIC, GOOD))
        self.assertIn("expected 37", run_scenario.judge_panic(qemu.EXIT_SUCCESS, lines))

    def test_hang_needs_the_monitor_and_the_function(self):
        stuck = "--- hang: vCPU state from the QEMU monitor ---\nRIP=ffffffff80110a42\n" \
                "CPU 0: RIP=0xffffffff80110a42 arch::wait_for_interrupt() at cpu.hpp:55 in hang_forever at selftest.cpp:232\n" \
                "CPU 1: RIP=0xffffffff8010ad1d arch::wait_for_interrupt() at cpu.hpp:55 in kernel::idle_loop() at scheduler.cpp:65"
        self.assertIsNone(run_scenario.judge_hang(stuck, "hang_forever"))
        self.assertIn("no vCPU was in boot_main", run_scenario.judge_hang(stuck, "boot_main"))
        # No QEMU (or no monitor): no state, so the expected hang is not proven.
        unavailable = "--- hang: vCPU state from the QEMU monitor ---\n(monitor unavailable: [Errno 2] No such file)"
        self.assertIn("no vCPU state", run_scenario.judge_hang(unavailable, "hang_forever"))
        self.assertIn("no vCPU state", run_scenario.judge_hang("", "hang_forever"))


if __name__ == "__main__":
    unittest.main()
