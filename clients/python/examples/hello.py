import sys
from ratufa import Scheduler, command_task, is_terminal

launched = False
with Scheduler(sys.argv[1] if sys.argv[1:] else "127.0.0.1:5050", {"name": "hello"}) as sched:
    for event in sched.events():
        if event["type"] == "OFFERS":
            offers = event["offers"]["offers"]
            if not launched:
                sched.launch(offers[:1], [command_task(offers[0]["agent_id"], "echo hello")])
                offers, launched = offers[1:], True
            if offers:
                sched.decline(offers)
        elif event["type"] == "UPDATE":
            print(event["update"]["status"]["state"])
            if is_terminal(event["update"]["status"]["state"]):
                sched.teardown()
