#!/usr/bin/python3
"""zmq_backend.py DELAY: the pool of backend workers of test_zmq.py, in
one pyzmq process (Debian python3-zmq: run it with /usr/bin/python3).

It binds, each on a port of the system's choosing on 127.0.0.1,

  - a PULL for contrib/apps/zmq_jobs.c's push mode: jobs [reply-to, job
    id, payload]; the answer goes as [job id, answer] to a PUSH connected
    to reply-to when it is an endpoint ("tcp://..."), else as [reply-to,
    job id, answer] on the PUB (reply-to is then a SUB's topic);
  - a ROUTER for its req mode: [identity, "", payload], answered
    [identity, "", answer];
  - the PUB,

prints one line "pull=ENDPOINT router=ENDPOINT pub=ENDPOINT" and answers
every job DELAY seconds after it came (or the N seconds of a payload
"sleep=N"; a payload "never" is not answered), all jobs at once: the
answer is b"done " + payload + b" pending=K", K the number of jobs
waiting here when it came, itself included. It runs until killed."""
import heapq
import itertools
import sys
import time

import zmq


def main():
    delay = float(sys.argv[1])
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    router = ctx.socket(zmq.ROUTER)
    pub = ctx.socket(zmq.PUB)
    for s in (pull, router, pub):
        s.setsockopt(zmq.LINGER, 0)
        s.bind("tcp://127.0.0.1:*")
    print("pull=%s router=%s pub=%s" % tuple(
        s.getsockopt(zmq.LAST_ENDPOINT).decode() for s in (pull, router, pub)),
        flush=True)
    pushes = {}  # reply-to endpoint -> a PUSH connected there
    due = []     # heap of (when, seq, how to answer)
    seq = itertools.count()
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(router, zmq.POLLIN)

    def take(payload, answer):
        if payload == b"never":
            return
        wait = delay
        if payload.startswith(b"sleep="):
            wait = float(payload[6:])
        text = b"done %s pending=%d" % (payload, len(due) + 1)
        heapq.heappush(due, (time.monotonic() + wait, next(seq), answer, text))

    def to_pull(reply_to, job_id):
        def answer(text):
            if reply_to.startswith(b"tcp://"):
                sock = pushes.get(reply_to)
                if sock is None:
                    sock = pushes[reply_to] = ctx.socket(zmq.PUSH)
                    sock.setsockopt(zmq.LINGER, 0)
                    sock.connect(reply_to.decode())
                sock.send_multipart([job_id, text])
            else:
                pub.send_multipart([reply_to, job_id, text])
        return answer

    def to_router(ident):
        return lambda text: router.send_multipart([ident, b"", text])

    while True:
        timeout = 1000
        if due:
            timeout = max(0, (due[0][0] - time.monotonic()) * 1000)
        ready = dict(poller.poll(timeout))
        # Drain each socket: many jobs come between two polls.
        while pull in ready:
            try:
                reply_to, job_id, payload = pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            take(payload, to_pull(reply_to, job_id))
        while router in ready:
            try:
                ident, empty, payload = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            take(payload, to_router(ident))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _when, _seq, answer, text = heapq.heappop(due)
            answer(text)


if __name__ == "__main__":
    main()
