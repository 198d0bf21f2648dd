# compression.py: the SeBS "compression" kind: writes N files of pseudo-random text into a fresh
# directory of the function's writable storage, zips the directory with shutil/zipfile (deflate)
# and answers the archive's size and its members' names, sizes and CRCs.
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
archive = shutil.make_archive(os.path.join(work, "archive"), "zip", root_dir=source)
with zipfile.ZipFile(archive) as packed:
    members = sorted((info.filename, info.file_size, info.compress_size, "%08x" % info.CRC) for info in packed.infolist())
listed = sorted(os.listdir(source))
result = {"size": name, "files": files, "listed": len(listed), "archive_bytes": os.path.getsize(archive),
          "input_bytes": sum(member[1] for member in members), "members": members}
shutil.rmtree(work)
common.reply(result)
