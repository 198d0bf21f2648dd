#!/usr/bin/env python3
"""test_guest_profile.py: unit tests of the host-side guest profiler (bench/guest_profile.py): the
registers of `info registers -a` as QEMU 7.2 prints them for 64-bit vCPUs, the identification of a
program by its bytes, and the report's shares (halted, kernel for a task, user of a task)."""
import os
import struct
import sys
import tempfile
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import guest_profile  # noqa: E402

# Two vCPUs as HMP prints them (the general registers cut to what the parser reads around).
REGISTERS = """info registers -a

CPU#0
RAX=0000000000000000 RBX=0000000000000001 RCX=0000000000401234 RDX=0000000000000000
RIP=ffffffff80108dd0 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0
CS =0008 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]
CR0=80010033 CR2=0000000000000000 CR3=0000000001234000 CR4=000006a0

CPU#1
RAX=0000000000000000 RBX=0000000000000001 RCX=0000000000000000 RDX=0000000000000000
RIP=0000000000401010 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=1
CS =002b 0000000000000000 ffffffff 00a0fb00 DPL=3 CS64 [-RA]
CR0=80010033 CR2=0000000000000000 CR3=0000000005678018 CR4=000006a0
(qemu) """


def tiny_elf(path: str, vaddr: int, code: bytes) -> None:
    """A minimal ELF64 with one PT_LOAD of `code` at vaddr (no sections: nm finds no symbols)."""
    header = bytearray(64)
    header[0:4] = b"\x7fELF"
    header[4], header[5], header[6] = 2, 1, 1
    struct.pack_into("<HHIQQQIHHHHHH", header, 16, 2, 62, 1, vaddr, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 120, vaddr, vaddr, len(code), len(code), 0x1000)
    with open(path, "wb") as f:
        f.write(bytes(header) + program + code)


class ParseRegisters(unittest.TestCase):
    def test_both_vcpus_with_rip_root_and_halt(self):
        self.assertEqual(guest_profile.parse_registers(REGISTERS),
                         [(0, 0xFFFFFFFF80108DD0, 0x1234000, False), (1, 0x401010, 0x5678000, True)])

    def test_32_bit_dump_gives_no_samples(self):
        # Before long mode QEMU prints EIP, not RIP: such a vCPU is not sampled.
        self.assertEqual(guest_profile.parse_registers("CPU#0\nEIP=0000fff0 EFL=00000002 HLT=0\nCR3=00000000\n"), [])


class Identify(unittest.TestCase):
    def test_program_matches_only_its_own_bytes(self):
        with tempfile.TemporaryDirectory() as work:
            a, b = os.path.join(work, "a.elf"), os.path.join(work, "b.elf")
            tiny_elf(a, 0x400000, bytes(range(64)))
            tiny_elf(b, 0x400000, bytes(range(64, 128)))
            program_a, program_b = guest_profile.Program("a", a), guest_profile.Program("b", b)
            self.assertTrue(program_a.has_bytes(0x400010, bytes(range(16, 32))))
            self.assertFalse(program_b.has_bytes(0x400010, bytes(range(16, 32))))
            # Past the segment's end is no match, not an error.
            self.assertFalse(program_a.has_bytes(0x400038, bytes(16)))


class Report(unittest.TestCase):
    def test_shares_by_where(self):
        with tempfile.TemporaryDirectory() as work:
            kernel = os.path.join(work, "k.elf")
            tiny_elf(kernel, 0xFFFFFFFF80100000, b"\x90" * 16)
            sampler = guest_profile.Sampler("/nonexistent", kernel, {})
            net = guest_profile.Program("net", kernel)
            sampler.root_program = {0x1000: net}
            sampler.samples = [(0, 0xFFFFFFFF80100000, 0x1000, False), (1, 0x401000, 0x1000, False),
                               (0, 0x401000, 0x2000, False), (1, 0x401000, 0x2000, True)]
            text = sampler.report()
            self.assertIn("4 vCPU samples (2 per vCPU)", text)
            self.assertIn("| kernel, for net | 25.0% |", text)
            self.assertIn("| user: net | 25.0% |", text)
            self.assertIn("| user: other tasks | 25.0% |", text)
            self.assertIn("| halted (idle) | 25.0% |", text)


if __name__ == "__main__":
    unittest.main()
