#!/usr/bin/env python3
"""Write a test file of realistic mixed content for bench/import.sh.

    mixed_file.py PATH SIZE-IN-BYTES

A third each of text, random bytes and zeros, interleaved in 4 MiB segments the
way a disk image mixes files, compressed data and free space. The text is the
host's C headers and Python sources; each pass over that corpus rotates its
letters, so the text compresses like source code but never deduplicates against
an earlier pass. The file is written to PATH.tmp and renamed when complete.
"""

import os
import sys

SEGMENT = 4 << 20
CORPUS_LIMIT = 64 << 20
CORPUS_ROOTS = ["/usr/include", "/usr/lib/python3", "/usr/share/perl"]
CORPUS_SUFFIXES = (".h", ".py", ".pm", ".pl", ".txt")


def corpus():
    parts, total = [], 0
    for root in CORPUS_ROOTS:
        for directory, subdirectories, names in os.walk(root):
            subdirectories.sort()
            for name in sorted(names):
                if not name.endswith(CORPUS_SUFFIXES):
                    continue
                try:
                    with open(os.path.join(directory, name), "rb") as source:
                        data = source.read()
                except OSError:
                    continue
                parts.append(data)
                total += len(data)
                if total >= CORPUS_LIMIT:
                    return b"".join(parts)
    text = b"".join(parts)
    if len(text) < SEGMENT:
        sys.exit(f"mixed_file.py: only {len(text)} bytes of text under {CORPUS_ROOTS}")
    return text


def rotation(shift):
    table = bytearray(range(256))
    for first, last in ((ord("a"), ord("z")), (ord("A"), ord("Z"))):
        span = last - first + 1
        for byte in range(first, last + 1):
            table[byte] = first + (byte - first + shift) % span
    return bytes(table)


def main():
    path, size = sys.argv[1], int(sys.argv[2])
    text = corpus()
    text_offset, text_pass = 0, 0
    table = rotation(0)
    zeros = bytes(SEGMENT)
    written, kind = 0, 0
    temporary = path + ".tmp"
    with open(temporary, "wb") as out:
        while written < size:
            length = min(SEGMENT, size - written)
            if kind == 0:
                segment = bytearray()
                while len(segment) < length:
                    piece = text[text_offset : text_offset + length - len(segment)]
                    segment += piece.translate(table)
                    text_offset += len(piece)
                    if text_offset >= len(text):
                        text_offset, text_pass = 0, text_pass + 1
                        table = rotation(text_pass % 25 + 1)
                out.write(segment)
            elif kind == 1:
                out.write(os.urandom(length))
            else:
                out.write(zeros[:length])
            written += length
            kind = (kind + 1) % 3
    os.rename(temporary, path)


if __name__ == "__main__":
    main()
