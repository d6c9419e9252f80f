#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What clusterboot sent one emulated board, checked against the reference host.

    wire-check.py normalise CAPTURE
    wire-check.py exact CAPTURE REFERENCE
    wire-check.py rules CAPTURE --boot-dir DIR --soc 2835|2837|2711|2712

CAPTURE is usbmon's text output for the board's bus (tests/vm/e2e/socs.sh
records it in the VM). It is normalised the way
../shared/reference/rpiboot-wire-zero.txt was: one line per control transfer
(setup fields and the completion's status) in order, a run of bulk OUT
transfers as one "Bo total=N", and the kernel's own enumeration (SET_ADDRESS,
GET_DESCRIPTOR, anything sent to the root hub) left out.

exact: the normalised capture must equal the reference's lines (the VM sets
the boot directory and the board's requests up as the reference's were).

rules: for boards no reference capture exists for, each stage is checked
against the rules the reference shows (usb-boot-protocol.md §3, §4, §9): the
ROM gets SET_CONFIGURATION, the 24-byte boot message, the SoC's loader whole
and one status read; in a file session every request read is answered by
the size of the file it names (0 if there is none, for a "*KEY*VALUE"
property and for an empty name), a ReadFile of a file by its bytes on bulk
OUT, and an empty name ends the session. Nothing else may be sent, except
what DOCUMENTED below lists (in both modes). The request names come from the request reads'
data (usbmon shows their first 32 bytes, enough for every name here).

Prints the normalised capture (normalise) or "ok: ..." / the differences; exit 0 when it conforms.
"""
import argparse
import os
import sys

GET_FILE_SIZE, READ_FILE, DONE = 0, 1, 2
LOADERS = {"2835": "bootcode.bin", "2837": "bootcode.bin", "2711": "bootcode4.bin", "2712": "bootcode5.bin"}

# Where the capture may differ from the reference's rules, and why (each is also in tests/vm/README.md).
DOCUMENTED = {
    "left": "the request read a board was waiting in when it left the bus to open its next session "
            "(the 2711's start4.elf) fails with the disconnect: nothing was sent for it",
    "resumed": "a bulk transfer the board was slow to take ended early (unlinked by the daemon's look at a "
               "quiet board, at most every 500 ms) and the next one began at the byte it reached: the bytes "
               "on the wire are the file's, once each",
    "retried": "a request read that failed (the board leaving makes it fail with EPROTO before the "
               "disconnect is known) was read again, as StepRetries= allows: the reads asked nothing of the "
               "board, and the session went on with the answer or ended with the board's departure",
    "getconf": "one GET_CONFIGURATION as the daemon opens each device: libusb_wrap_sys_device() asks it "
               "over the wire (a device opened through libusb's own discovery has it read from sysfs)",
}
SET_CONFIGURATION = "  Co bm=00 req=09 wValue=0001 wIndex=0000 wLength=0000 -> status=0"
GET_CONFIGURATION = "  Ci bm=80 req=08 wValue=0000 wIndex=0000 wLength=0001 -> status=0"


def drop_documented(lines):
    """The lines without the documented differences, and the notes for those that were there."""
    kept, notes = [], set()
    for text, t in lines:
        if text == GET_CONFIGURATION and kept and kept[-1][0] == SET_CONFIGURATION:
            notes.add("getconf")
            continue
        kept.append((text, t))
    return kept, notes


class Transfer:
    def __init__(self, kind, setup=None):
        self.kind = kind          # "Co", "Ci", "Bo", ...
        self.setup = setup        # (bm, req, wValue, wIndex, wLength) for control
        self.status = None        # completion status (int), None if the capture ends first
        self.length = 0           # bytes completed
        self.data = b""           # IN data shown by usbmon (at most 32 bytes)

    def line(self):
        if self.kind == "Bo":
            return f"  Bo total={self.length}"
        if self.setup is None:  # an interrupt or bulk IN transfer: nothing of a boot
            return f"  {self.kind} length={self.length}"
        bm, req, val, idx, wlen = self.setup
        st = "?" if self.status is None else str(self.status)
        return f"  {self.kind} bm={bm:02x} req={req:02x} wValue={val:04x} wIndex={idx:04x} wLength={wlen:04x} -> status={st}"


def hexbytes(words):
    out = bytearray()
    for w in words:
        try:
            out += bytes.fromhex(w)
        except ValueError:
            break
    return bytes(out)


def parse_usbmon(path):
    """The board's transfers in submission order (root hub and enumeration left out)."""
    pending, transfers = {}, []
    with open(path, encoding="ascii", errors="replace") as f:
        for raw in f:
            fields = raw.split()
            if len(fields) < 5:
                continue
            tag, event, addr = fields[0], fields[2], fields[3]
            parts = addr.split(":")
            if len(parts) != 4 or parts[2] == "001":
                continue
            kind = parts[0]
            if event == "S":
                setup = None
                if kind in ("Co", "Ci"):
                    if fields[4] != "s" or len(fields) < 10:
                        continue
                    bm, req = int(fields[5], 16), int(fields[6], 16)
                    setup = (bm, req, int(fields[7], 16), int(fields[8], 16), int(fields[9], 16))
                    if bm & 0x60 == 0 and req in (0x05, 0x06):  # SET_ADDRESS, GET_DESCRIPTOR: the kernel's
                        continue
                t = Transfer(kind, setup)
                pending[tag] = t
                transfers.append(t)
            elif event in ("C", "E") and tag in pending:
                t = pending.pop(tag)
                try:
                    t.status = int(fields[4].split(":")[0])
                    t.length = int(fields[5]) if len(fields) > 5 and fields[5].lstrip("-").isdigit() else 0
                except ValueError:
                    t.status = -1
                if "=" in fields:
                    t.data = hexbytes(fields[fields.index("=") + 1:])
    return transfers


UNLINKED = (-2, -104)  # -ENOENT, -ECONNRESET: the host ended the transfer itself


def normalise(transfers):
    """Reference-format lines, each with the transfer it stands for (a run of bulk OUT transfers is one,
    its length their sum), and the bulk transfers that ended early (their bytes still count: they went
    over the wire)."""
    out, early = [], []
    for t in transfers:
        if t.kind == "Bo":
            if t.status in UNLINKED:
                early.append(t)
            if not out or out[-1].kind != "Bo":
                out.append(Transfer("Bo"))
            out[-1].length += t.length
            continue
        out.append(t)
    return [(t.line(), t) for t in out], early


def documented(keys, early):
    """The summary's tail: which documented differences the record showed (DOCUMENTED has why)."""
    if not keys:
        return ""
    shown = [f"{k} ({len(early)}x)" if k == "resumed" else k for k in sorted(keys)]
    return "; documented differences: " + ", ".join(shown)


def reference_lines(path):
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]


def request_of(t):
    """(command, name, complete) from a request read's data."""
    if len(t.data) < 4:
        return None, "", False
    cmd = int.from_bytes(t.data[:4], "little")
    name = t.data[4:]
    nul = name.find(b"\0")
    if nul >= 0:
        return cmd, name[:nul].decode("ascii", "replace"), True
    return cmd, name.decode("ascii", "replace"), False


class Rules:
    def __init__(self, boot_dir, soc):
        self.dir, self.soc = boot_dir, soc
        self.errors, self.notes = [], []
        self.stages = []

    def size_of(self, name):
        # where the reference host looks on disk (§8): the chip's folder, then the directory itself;
        # bootfiles.bin and a node's own BootDirectory= are not modelled (the VM uses neither here)
        if not name or name.startswith("*") or name.startswith("/") or ".." in name.split("/"):
            return 0
        for cand in (os.path.join(self.dir, self.soc_dir(), name), os.path.join(self.dir, name)):
            if os.path.isfile(cand):
                return os.path.getsize(cand)
        return 0

    def soc_dir(self):
        # the reference host's folder for every board that is neither a 2711 nor a 2712
        return {"2711": "2711", "2712": "2712"}.get(self.soc, "2710")

    def expect_co(self, lines, i, value, what):
        """lines[i] must be the vendor control OUT carrying `value` (wValue low, wIndex high 16 bits)."""
        want = f"  Co bm=40 req=00 wValue={value & 0xffff:04x} wIndex={value >> 16:04x} wLength=0000 -> status=0"
        if i >= len(lines):
            self.errors.append(f"{what}: the capture ends; wanted: {want.strip()}")
            return i
        if lines[i][0] != want:
            self.errors.append(f"line {i + 1}: {what}: {lines[i][0].strip()}; wanted: {want.strip()}")
        return i + 1

    def expect_bulk(self, lines, i, size, what):
        want = f"  Bo total={size}"
        if i >= len(lines) or lines[i][0] != want:
            got = lines[i][0].strip() if i < len(lines) else "the end of the capture"
            self.errors.append(f"line {i + 1}: {what}: {got}; wanted: {want.strip()}")
            return i + 1 if i < len(lines) and lines[i][1].kind == "Bo" else i
        return i + 1

    def rom(self, lines, i):
        loader = LOADERS[self.soc]
        size = self.size_of(loader)
        if size == 0:
            self.errors.append(f"{loader} is not in {self.dir}")
        i = self.expect_co(lines, i, 24, "the boot message's length")
        i = self.expect_bulk(lines, i, 24, "the boot message")
        i = self.expect_co(lines, i, size, f"{loader}'s length")
        i = self.expect_bulk(lines, i, size, loader)
        want = "  Ci bm=c0 req=00 wValue=0004 wIndex=0000 wLength=0004 -> status=0"
        if i < len(lines) and lines[i][0] == want:
            i += 1
        else:
            self.errors.append(f"line {i + 1}: the ROM's status read: "
                               f"{lines[i][0].strip() if i < len(lines) else 'missing'}")
        self.stages.append(f"ROM ({loader})")
        return i

    def session(self, lines, i):
        served = []
        read = "  Ci bm=c0 req=00 wValue=0104 wIndex=0000 wLength=0104 -> status="
        while i < len(lines) and lines[i][0].startswith(read):
            t = lines[i][1]
            if t.status != 0:
                # the daemon's step retries read the request again (StepRetries=): failed reads in a row
                failed = i
                while failed + 1 < len(lines) and lines[failed + 1][0].startswith(read) and lines[failed + 1][1].status != 0:
                    failed += 1
                retries = failed - i
                nxt = lines[failed + 1][0] if failed + 1 < len(lines) else ""
                if nxt in (SET_CONFIGURATION, ""):
                    # the board left while the read waited: next is its new device's configuration
                    self.notes.append("left")
                    if retries:
                        self.notes.append("retried")
                    served.append("(left)")
                    return failed + 1, served
                if nxt.startswith(read):
                    # a retried read that was answered: the session goes on from it
                    self.notes.append("retried")
                    i = failed + 1
                    continue
                self.errors.append(f"line {i + 1}: a request read failed (status {t.status}) and the host went on")
                return i + 1, served
            cmd, name, whole = request_of(t)
            if cmd is None:
                self.errors.append(f"line {i + 1}: no data shown for the request read")
                return i + 1, served
            if not whole and name:
                self.notes.append(f"the name {name!r}... was cut by usbmon's 32 bytes")
            i += 1
            if not name:
                i = self.expect_co(lines, i, 0, "the empty name's zero-length write")
                served.append("Done" if cmd == DONE else "(empty name)")
                return i, served
            size = 0 if name.startswith("*") else self.size_of(name)
            what = f"{'ReadFile' if cmd == READ_FILE else 'GetFileSize'} {name}"
            i = self.expect_co(lines, i, size, what)
            if cmd == READ_FILE and size:
                i = self.expect_bulk(lines, i, size, what)
            served.append(f"{name}{'' if cmd == READ_FILE else '?'}")
        return i, served

    def check(self, lines):
        i = 0
        while i < len(lines):
            if lines[i][0] != SET_CONFIGURATION:
                self.errors.append(f"line {i + 1}: not part of a boot: {lines[i][0].strip()}")
                i += 1
                continue
            i += 1
            nxt = lines[i][0] if i < len(lines) else ""
            if nxt.startswith("  Co bm=40 req=00 wValue=0018 wIndex=0000"):
                i = self.rom(lines, i)
            elif nxt.startswith("  Ci bm=c0 req=00 wValue=0104"):
                i, served = self.session(lines, i)
                self.stages.append(f"file session ({len(served)} requests, ending {served[-1] if served else '-'})")
            else:
                self.stages.append("gadget, left alone")
        return not self.errors


def main():
    ap = argparse.ArgumentParser(description="check a usbmon capture against the reference host's wire behaviour")
    ap.add_argument("mode", choices=("normalise", "exact", "rules"))
    ap.add_argument("capture")
    ap.add_argument("reference", nargs="?")
    ap.add_argument("--boot-dir")
    ap.add_argument("--soc", choices=sorted(LOADERS))
    ap.add_argument("--verbose", action="store_true", help="say what each documented difference is")
    a = ap.parse_args()
    lines, early = normalise(parse_usbmon(a.capture))
    if a.mode == "normalise":
        for text, _ in lines:
            print(text)
        return 0
    lines, notes = drop_documented(lines)
    if early:
        notes.add("resumed")
    if a.mode == "exact":
        if not a.reference:
            ap.error("exact needs REFERENCE")
        want = reference_lines(a.reference)
        got = [text for text, _ in lines]
        if got == want:
            print(f"ok: {len(got)} lines, the same as the reference's{documented(notes, early)}")
            return 0
        for n, (g, w) in enumerate(zip(got, want)):
            if g != w:
                print(f"line {n + 1}: {g.strip()}; the reference: {w.strip()}")
                break
        else:
            print(f"{len(got)} lines, the reference has {len(want)}")
        return 1
    if not a.boot_dir or not a.soc:
        ap.error("rules needs --boot-dir and --soc")
    r = Rules(a.boot_dir, a.soc)
    ok = r.check(lines)
    if ok and len(r.stages) < 3:
        r.errors.append(f"only {len(r.stages)} stages seen: {'; '.join(r.stages)}")
        ok = False
    if ok:
        print(f"ok: {len(lines)} lines; " + "; ".join(r.stages) + documented(set(r.notes) | notes, early))
        if a.verbose:
            for key in sorted(set(r.notes) | notes):
                print(f"  {key}: {DOCUMENTED[key]}")
        return 0
    for e in r.errors[:8]:
        print(e)
    return 1


if __name__ == "__main__":
    sys.exit(main())
