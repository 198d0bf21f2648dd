# dynamic_html.py: the SeBS "dynamic-html" kind: a jinja2 template rendered over N random numbers
# (a fixed seed, so the page is the same on every run and system); answers its length and digest.
import hashlib
import random

import jinja2

import common

TEMPLATE = """<!DOCTYPE html>
<html>
  <head><title>Randomly generated data.</title></head>
  <body>
    <p>Welcome {{ username }}!</p>
    <p>Data generated for {{ count }} numbers:</p>
    <ul>
    {% for n in numbers %}
      <li>{{ n }}</li>
    {% endfor %}
    </ul>
  </body>
</html>
"""

event = common.request()
name, count = common.size(event, {"small": 1000, "standard": 100000})
generator = random.Random(42)
numbers = [generator.randint(0, 1000000) for _ in range(count)]
page = jinja2.Environment(autoescape=True).from_string(TEMPLATE).render(
    username=event.get("username", "metteagle"), count=count, numbers=numbers)
data = page.encode()
common.reply({"size": name, "numbers": count, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
