"""A pymesos scheduler, written as pymesos's users write them, run against ratufa.

    .venv/bin/python tests/clients/pymesos_scheduler.py 127.0.0.1:5050 [--tasks 10]

It subscribes with pymesos's MesosSchedulerDriver (JSON over the v1 scheduler API,
`use_addict=True` as pymesos's examples do), launches `--tasks` command tasks
(`echo hello-<i>`) into the offers it gets, a few per offer so that both agents of a
`ratufa local --num_agents 2` are used, and declines what it does not need. pymesos
acknowledges every update itself (implicit acknowledgements, its default). Once every
task has reached TASK_FINISHED it stops the driver (which tears the framework down,
unless `--failover`) and exits 0, printing one `finished <task id>` line per task.

It exits 1 with a message on stderr if a task reaches any other terminal state, if the
master sends an ERROR, if pymesos's IO thread dies, or if `--timeout` passes first.
"""

import argparse
import getpass
import logging
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

TASK_CPUS = 0.1
TASK_MEM = 32.0

# Terminal states other than TASK_FINISHED: any of them fails the run.
FAILED_STATES = {
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
}


def scalar(offer, name):
    """The unreserved-or-not total of scalar resource `name` in an offer."""
    return sum(
        r.scalar.value
        for r in offer.resources
        if r.name == name and r.type == "SCALAR"
    )


class HelloScheduler(Scheduler):
    def __init__(self, tasks, per_offer):
        self.lock = threading.Lock()
        self.pending = ["hello-%d" % i for i in range(tasks)]
        self.launched = {}  # task id -> agent id
        self.states = {}  # task id -> latest state seen
        self.finished = []
        self.failure = None
        self.per_offer = per_offer
        self.done = threading.Event()

    def fail(self, why):
        with self.lock:
            if self.failure is None:
                self.failure = why
        self.done.set()

    # --- pymesos callbacks ---------------------------------------------------------

    def registered(self, driver, framework_id, master_info):
        logging.info("registered as %s with %s", framework_id.value, master_info)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                fits = int(
                    min(
                        scalar(offer, "cpus") / TASK_CPUS + 1e-9,
                        scalar(offer, "mem") / TASK_MEM + 1e-9,
                        self.per_offer,
                    )
                )
                batch = self.pending[:fits]
                del self.pending[: len(batch)]
                for task_id in batch:
                    self.launched[task_id] = offer.agent_id.value

            if not batch:
                driver.declineOffer(offer.id, Dict(refuse_seconds=5))
                continue

            tasks = []
            for task_id in batch:
                task = Dict()
                task.task_id.value = task_id
                task.agent_id.value = offer.agent_id.value
                task.name = task_id
                task.command.value = "echo %s" % task_id
                task.resources = [
                    dict(name="cpus", type="SCALAR", scalar={"value": TASK_CPUS}),
                    dict(name="mem", type="SCALAR", scalar={"value": TASK_MEM}),
                ]
                tasks.append(task)
            logging.info(
                "launching %s on agent %s", ", ".join(batch), offer.agent_id.value
            )
            # A short filter: the rest of this agent comes back soon for what is left.
            driver.launchTasks(offer.id, tasks, Dict(refuse_seconds=1))

    def statusUpdate(self, driver, update):
        task_id = update.task_id.value
        state = update.state
        logging.info("%s is %s (uuid %s)", task_id, state, update.get("uuid"))
        with self.lock:
            if task_id not in self.launched:
                self.failure = self.failure or "an update for a task never launched: %s" % update
                self.done.set()
                return
            self.states[task_id] = state
            if state == "TASK_FINISHED":
                self.finished.append(task_id)
                if not self.pending and len(self.finished) == len(self.launched):
                    self.done.set()
        if state in FAILED_STATES:
            self.fail(
                "%s reached %s: %s (reason %s)"
                % (task_id, state, update.get("message"), update.get("reason"))
            )

    def error(self, driver, message):
        self.fail("the master sent ERROR: %s" % message)

    def offerRescinded(self, driver, offer_id):
        logging.info("offer %s rescinded", offer_id.value)

    def slaveLost(self, driver, agent_id):
        self.fail("agent %s lost" % agent_id.value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("master", help="host:port of the master")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--per-offer", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="stop the driver as a scheduler failing over: no TEARDOWN",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )

    framework = Dict()
    framework.user = getpass.getuser()
    framework.name = "pymesos-hello"
    framework.hostname = "localhost"

    scheduler = HelloScheduler(args.tasks, args.per_offer)
    driver = MesosSchedulerDriver(scheduler, framework, args.master, use_addict=True)
    driver.start()
    try:
        if not scheduler.done.wait(args.timeout):
            with scheduler.lock:
                states = dict(scheduler.states)
                pending = list(scheduler.pending)
            scheduler.fail(
                "timed out after %.0f s: states %s, not launched %s"
                % (args.timeout, states, pending)
            )
    except KeyboardInterrupt:
        # pymesos interrupts the main thread when its IO thread dies.
        scheduler.fail("pymesos's IO thread stopped (see the log above)")
    finally:
        # Without --failover pymesos sends TEARDOWN on its way out; with it, it only
        # closes its stream (the framework stays, for failover_timeout).
        driver.stop(failover=args.failover)
        driver.join()

    if scheduler.failure is not None:
        print("pymesos scheduler failed: %s" % scheduler.failure, file=sys.stderr)
        return 1
    for task_id in sorted(scheduler.finished):
        print("finished %s on %s" % (task_id, scheduler.launched[task_id]))
    print("all %d tasks finished" % len(scheduler.finished))
    return 0


if __name__ == "__main__":
    sys.exit(main())
