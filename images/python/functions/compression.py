# compression.py: the SeBS "compression" kind: writes N files of pseudo-random text into a fresh
# directory of the function's writable storage (/tmp), zips the directory with zipfile (deflate),
# removes it all with shutil and answers the archive's size and its members' names, sizes and CRCs.
import os
import random
import shutil
import tempfile
import zipfile

import common

event = common.request()
name, (files, file_bytes) = common.size(event, {"small": (8, 16384), "standard": (64, 262144)})
generator = random.Random(7)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
work = tempfile.mkdtemp(prefix="compression-")
source = os.path.join(work, "input")
os.mkdir(source)
for index in range(files):
    text = []
    length = 0
    while length < file_bytes:
        word = generator.choice(words) + ("\n" if generator.random() < 0.1 else " ")
        text.append(word)
        length += len(word)
    with open(os.path.join(source, "file-%03d.txt" % index), "w") as output:
        output.write("".join(text)[:file_bytes])
# zipfile itself, deflated, members in name order. strict_timestamps=False: a ZIP entry cannot say
# a time before 1980, and a function may run where the clock starts at 1970 (MettEagle has no wall
# clock yet); such files are stamped 1980-01-01 instead of failing.
archive = os.path.join(work, "archive.zip")
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as packing:
    for entry in sorted(os.listdir(source)):
        packing.write(os.path.join(source, entry), entry)
with zipfile.ZipFile(archive) as packed:
    members = sorted((info.filename, info.file_size, info.compress_size, "%08x" % info.CRC) for info in packed.infolist())
listed = sorted(os.listdir(source))
result = {"size": name, "files": files, "listed": len(listed), "archive_bytes": os.path.getsize(archive),
          "input_bytes": sum(member[1] for member in members), "members": members}
shutil.rmtree(work)
common.reply(result)
