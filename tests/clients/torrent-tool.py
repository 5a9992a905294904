#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/clients/torrent-tool.py - torrent files and tracker probes for the
# real-client tests.
#
# Subcommands (all output on stdout, errors on stderr, exit 1 on failure):
#   make FILE URL OUT [PIECE]   private v1 torrent of FILE, only tracker URL
#   retarget IN URL OUT         same info dict (same info-hash), other tracker
#   infohash TORRENT            v1 info-hash, 40 lower-case hex digits
#   pieces TORRENT FILE         how many pieces of FILE match the torrent
#                               ("N/TOTAL"); a missing file has 0
#   scrape HOST PORT HASH [T]   one BEP 15 connect + scrape, prints
#                               "seeders completed leechers"; exit 1 when the
#                               tracker does not answer within T s (default 2)
#
# libtorrent (python3-libtorrent) makes the torrent, so the file is what a
# real client would produce; everything else is plain Python.
import hashlib
import os
import random
import socket
import struct
import sys


def lt():
    import libtorrent
    return libtorrent


def bdecode_file(path):
    with open(path, 'rb') as f:
        d = lt().bdecode(f.read())
    if not isinstance(d, dict) or b'info' not in d:
        raise SystemExit('torrent-tool: %s: not a torrent' % path)
    return d


def write_torrent(d, out):
    data = lt().bencode(d)
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.rename(tmp, out)


def cmd_make(path, url, out, piece=None):
    L = lt()
    fs = L.file_storage()
    L.add_files(fs, path)
    flags = L.create_torrent.v1_only
    ct = L.create_torrent(fs, int(piece) if piece else 0, flags)
    ct.set_priv(True)
    ct.add_tracker(url, 0)
    ct.set_creator('trackerd tests')
    L.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    d = ct.generate()
    # One tracker, nothing else that could introduce a peer: no web seeds,
    # no DHT nodes, no announce-list tiers beyond the single URL.
    for k in (b'url-list', b'httpseeds', b'nodes', b'announce-list'):
        d.pop(k, None)
    d[b'announce'] = url.encode()
    write_torrent(d, out)


def cmd_retarget(src, url, out):
    d = bdecode_file(src)
    d.pop(b'announce-list', None)
    d[b'announce'] = url.encode()
    write_torrent(d, out)


def info_hash(path):
    d = bdecode_file(path)
    return hashlib.sha1(lt().bencode(d[b'info'])).hexdigest()


def cmd_pieces(torrent, path):
    info = bdecode_file(torrent)[b'info']
    plen = info[b'piece length']
    hashes = info[b'pieces']
    total = len(hashes) // 20
    good = 0
    try:
        with open(path, 'rb') as f:
            for i in range(total):
                block = f.read(plen)
                if hashlib.sha1(block).digest() == hashes[20 * i:20 * i + 20]:
                    good += 1
    except FileNotFoundError:
        pass
    print('%d/%d' % (good, total))


def cmd_scrape(host, port, ihash, timeout='2'):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(float(timeout))
    s.connect((host, int(port)))
    try:
        tx = random.getrandbits(32)
        s.send(struct.pack('>QII', 0x41727101980, 0, tx))
        r = s.recv(2048)
        act, rtx, cid = struct.unpack('>IIQ', r[:16])
        if len(r) < 16 or act != 0 or rtx != tx:
            raise SystemExit('torrent-tool: bad connect reply')
        tx = random.getrandbits(32)
        s.send(struct.pack('>QII', cid, 2, tx) + bytes.fromhex(ihash))
        r = s.recv(2048)
        act, rtx = struct.unpack('>II', r[:8])
        if len(r) < 20 or act != 2 or rtx != tx:
            raise SystemExit('torrent-tool: bad scrape reply')
        print('%d %d %d' % struct.unpack('>III', r[8:20]))
    except (socket.timeout, ConnectionRefusedError) as e:
        raise SystemExit('torrent-tool: no answer from %s:%s (%s)' %
                         (host, port, e.__class__.__name__))


def main(argv):
    cmds = {'make': (cmd_make, 3, 4), 'retarget': (cmd_retarget, 3, 3),
            'infohash': (lambda p: print(info_hash(p)), 1, 1),
            'pieces': (cmd_pieces, 2, 2), 'scrape': (cmd_scrape, 3, 4)}
    if len(argv) < 2 or argv[1] not in cmds:
        raise SystemExit('usage: torrent-tool.py make|retarget|infohash|'
                         'pieces|scrape ARGS')
    fn, lo, hi = cmds[argv[1]]
    args = argv[2:]
    if not lo <= len(args) <= hi:
        raise SystemExit('torrent-tool: %s takes %d..%d arguments' %
                         (argv[1], lo, hi))
    fn(*args)


if __name__ == '__main__':
    main(sys.argv)
