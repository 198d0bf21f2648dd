# The system `make run` boots: one boot module per line, `{build}` = the build directory.
# The first line is the root task; every other line is a program with its boot configuration
# (docs/BOOT.md): the words after the path name exactly the capabilities it gets.
{build}/user/root.elf
{build}/user/manager.elf task thread factory=33% observe slots=65536 console=write endpoint=manager:receive endpoint=store:send+grant rtc
{build}/user/net.elf task factory=8M console platform endpoint=net:receive
{build}/user/gateway.elf task factory=160M console endpoint=net:send+grant endpoint=manager:send+grant endpoint=store:send+grant file=keys
# The image store (docs/STORE.md): the virtio-blk disk and the blobs on it. Last, so that a machine
# too small for its factory (a benchmark boot without a disk) still starts everything else.
{build}/user/store.elf task factory=768M console platform slots=1024 endpoint=store:receive
# The gateway's API keys (a data module, docs/BOOT.md): copied from config/gateway.keys at build time.
{build}/gateway.keys data name=keys
