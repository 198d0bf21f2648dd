# empty.py: the SeBS "empty" kind: reads its request, answers at once (start-up cost alone).
import common

event = common.request()
common.reply({"status": "ok", "size": event.get("size", "small")})
