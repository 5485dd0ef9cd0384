#!/usr/bin/env python3
"""Marks one symbol-version requirement of an ELF shared library weak, in place.

libLibTorchSharp.so in TorchSharp-cpu 0.107.0 was linked against GCC 13's libstdc++ and so requires
GLIBCXX_3.4.32, while Debian 12 ships libstdc++ with GLIBCXX_3.4.30: the dynamic loader refuses the
library ("version `GLIBCXX_3.4.32' not found"). The only symbol under that version is
_ZSt21ios_base_library_initv, which GCC 13's <iostream> references only to force a link against the
newer library (no relocation calls it). A Vernaux entry with VER_FLG_WEAK (0x2) set is a requirement
the loader may find missing without failing (glibc elf/dl-version.c, match_symbol), so setting that
flag lets the library load on the older libstdc++. Run this on the BUILT copy under bin/ (each build
copies the original from the NuGet cache again); the NuGet cache itself is left alone.

usage: weaken_glibcxx.py LIBRARY [VERSION]   (VERSION defaults to GLIBCXX_3.4.32)
"""
import struct
import sys

VER_FLG_WEAK = 0x2


def weaken(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            sys.exit(f"{path}: not a little-endian ELF64 file")
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)

        def section(i):
            # Elf64_Shdr: name, type, flags, addr, offset, size, link, info, addralign, entsize
            return struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)

        shstr_off = section(e_shstrndx)[4]

        def cstr(offset):
            return bytes(data[offset:data.index(b"\0", offset)]).decode()

        changed = found = 0
        for i in range(e_shnum):
            name, _, _, _, offset, _, link, info, _, _ = section(i)
            if cstr(shstr_off + name) != ".gnu.version_r":
                continue
            strtab = section(link)[4]
            need = offset
            for _ in range(info):  # sh_info = number of Verneed entries
                # Elf64_Verneed: vn_version, vn_cnt, vn_file, vn_aux, vn_next
                _, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, need)
                aux = need + vn_aux
                for _ in range(cnt):
                    # Elf64_Vernaux: vna_hash, vna_flags, vna_other, vna_name, vna_next
                    _, flags, _, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                    if cstr(strtab + vna_name) == version:
                        found += 1
                        print(f"{path}: {cstr(strtab + vn_file)} {version}: flags 0x{flags:x} -> 0x{flags | VER_FLG_WEAK:x}")
                        if not flags & VER_FLG_WEAK:
                            struct.pack_into("<H", data, aux + 4, flags | VER_FLG_WEAK)
                            changed += 1
                    aux += vna_next
                need += vn_next
        if not found:
            sys.exit(f"{path}: no requirement of {version} in .gnu.version_r (nothing to do, or a different TorchSharp build)")
        if changed:
            f.seek(0)
            f.write(data)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    weaken(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "GLIBCXX_3.4.32")
