#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/clients/lt-peer.py - a libtorrent (python3-libtorrent) seeder or
# leecher for the real-client tests.
#
# usage: lt-peer.py TORRENT DIR LISTEN [LIMIT]
#   TORRENT  the .torrent file
#   DIR      save path; a seeder finds the complete file there, a leecher an
#            empty directory
#   LISTEN   127.0.0.1:PORT or [::1]:PORT: the only interface libtorrent
#            listens on and announces from
#   LIMIT    seconds after which the process exits by itself (default 300),
#            so a forgotten process cannot outlive the test by much
#
# Everything that could connect two peers without the tracker is off: no DHT,
# no local service discovery, no UPnP/NAT-PMP, and the session is created
# without the default plugins, so no peer exchange (ut_pex) either. The
# torrent is private, which also keeps libtorrent from using any of these.
# One status line per second and one line per tracker or peer event go to
# stdout, so the test log shows how the two clients met.
import signal
import sys
import time

import libtorrent as lt


def main(argv):
    if len(argv) not in (4, 5):
        raise SystemExit('usage: lt-peer.py TORRENT DIR LISTEN [LIMIT]')
    torrent, save, listen = argv[1:4]
    limit = float(argv[4]) if len(argv) == 5 else 300.0
    settings = {
        'listen_interfaces': listen,
        'outgoing_interfaces': listen.rsplit(':', 1)[0].strip('[]'),
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_ip_notifier': False,
        # Both peers are on the same loopback address.
        'allow_multiple_connections_per_ip': True,
        # TCP only: what is tested is the tracker, and uTP on loopback
        # with some clients is much slower than TCP.
        'enable_incoming_utp': False,
        'enable_outgoing_utp': False,
        'alert_mask': (lt.alert.category_t.error_notification
                       | lt.alert.category_t.status_notification
                       | lt.alert.category_t.tracker_notification
                       | lt.alert.category_t.connect_notification),
    }
    ses = lt.session(settings, 0)   # 0: no default plugins, nothing started
    ti = lt.torrent_info(torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    atp.flags |= (lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
                  | lt.torrent_flags.disable_pex)
    h = ses.add_torrent(atp)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    print('lt-peer: libtorrent %s, %s, info-hash %s, listening on %s' %
          (lt.__version__, torrent, ti.info_hashes().v1, listen), flush=True)
    start = time.monotonic()
    last = 0.0
    while not stop and time.monotonic() - start < limit:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, (lt.tracker_reply_alert, lt.tracker_error_alert,
                              lt.tracker_warning_alert,
                              lt.tracker_announce_alert, lt.peer_connect_alert,
                              lt.peer_disconnected_alert,
                              lt.torrent_finished_alert,
                              lt.listen_failed_alert,
                              lt.listen_succeeded_alert,
                              lt.torrent_error_alert)):
                print('lt-peer: %.1fs %s: %s' % (time.monotonic() - start,
                      a.what(), a.message()), flush=True)
        now = time.monotonic()
        if now - last >= 1.0:
            last = now
            s = h.status()
            print('lt-peer: %.1fs state=%s progress=%.3f peers=%d down=%d '
                  'up=%d' % (now - start, s.state, s.progress, s.num_peers,
                             s.total_payload_download, s.total_payload_upload),
                  flush=True)
    ses.remove_torrent(h)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
