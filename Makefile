# MettEagle front door: `make run` boots the system, `make test` builds and runs every test,
# `make bench` measures against the Linux baseline. Each installs what it needs first.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
# `make run`: guest memory, and the image store's disk (created sparse on the host if absent).
MEMORY ?= 2G
DISK ?= $(BUILD)/store.img
DISK_SIZE ?= 4G
# `make run`: the host port the gateway's HTTP API is forwarded to (the guest listens on 8080).
PORT ?= 8080

.PHONY: all setup configure build run test bench docs fuzz fuzz-host fuzz-kernel soak clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja: CMakeLists.txt | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: setup configure
	cmake --build $(BUILD)

# `make run` builds only what it boots (the `system` target: kernel, servers, keys, mettctl), not
# the tests. ioapic2=off puts the virtio-mmio interrupts (network, disk) on the I/O APIC the kernel routes.
run: setup configure
	cmake --build $(BUILD) --target system
	scripts/launch --kernel $(BUILD)/kernel/metteagle.elf --build-dir $(BUILD) --boot-config config/system.boot \
	  --forward $(PORT):8080 --memory $(MEMORY) --disk $(DISK) --disk-size $(DISK_SIZE) --machine-option ioapic2=off

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j2 --repeat until-pass:2 || { scripts/show-failures $(BUILD); exit 1; }

bench: build
	bench/run-all $(BUILD)

# A longer run of the gateway's random-bytes test than the suite's: the gateway_api scenario's
# system and checks with FUZZ_REQUESTS (20,000) random requests instead of 300.
FUZZ_REQUESTS ?= 20000
fuzz: build
	FUZZ_REQUESTS=$(FUZZ_REQUESTS) python3 tests/harness/run_scenario.py --name gateway_fuzz \
	  --kernel $(BUILD)/kernel/metteagle.elf --append user --timeout 3600 --log-dir $(BUILD)/scenario-logs \
	  --module $(BUILD)/user/root.elf \
	  --module "$(BUILD)/user/manager.elf task thread factory=200M observe slots=65536 console=write endpoint=manager:receive rtc" \
	  --module "$(BUILD)/user/net.elf task factory=8M console platform endpoint=net:receive" \
	  --module "$(BUILD)/user/gateway.elf task factory=160M console endpoint=net:send+grant endpoint=manager:send+grant file=keys" \
	  --module "tests/gateway/test.keys data name=keys" \
	  --forward 8080 --ready "gateway: listening on port 8080" \
	  --host-check "python3 tests/gateway/check_api.py --port {port} --functions $(BUILD)/user/functions"

# The soak (tests/soak/soak.py): SOAK_SECONDS (30 minutes) of mixed load from two tenants against
# the system `make run` boots, then an exact account: no lost or wrong answer, /metrics counting what
# was sent, the manager's and the kernel's free memory back to their starting values. The report
# goes to build/soak/report.json, the guest's console to build/scenario-logs/soak.log.
SOAK_SECONDS ?= 1800
soak: build
	mkdir -p $(BUILD)/soak
	python3 tests/harness/run_scenario.py --name soak \
	  --kernel $(BUILD)/kernel/metteagle.elf --append user --timeout $$(( $(SOAK_SECONDS) + 600 )) \
	  --log-dir $(BUILD)/scenario-logs \
	  --module $(BUILD)/user/root.elf \
	  --module "$(BUILD)/user/manager.elf task thread factory=200M observe slots=65536 console=write endpoint=manager:receive rtc" \
	  --module "$(BUILD)/user/net.elf task factory=8M console platform endpoint=net:receive" \
	  --module "$(BUILD)/user/gateway.elf task factory=160M console endpoint=net:send+grant endpoint=manager:send+grant file=keys" \
	  --module "$(BUILD)/gateway.keys data name=keys" \
	  --forward 8080 --ready "gateway: listening on port 8080" \
	  --host-check "python3 tests/soak/soak.py --port {port} --functions $(BUILD)/user/functions \
	    --seconds $(SOAK_SECONDS) --report $(BUILD)/soak/report.json"

# libFuzzer on the host-built parsers (HTTP, JSON configuration, key file, ELF, boot configuration,
# multiboot): FUZZ_RUNS executions per target over its committed corpus (tests/fuzz/corpus), built
# with clang into $(BUILD)/fuzz by scripts/fuzz-host; the suite runs 20,000 per target.
FUZZ_RUNS ?= 1000000
fuzz-host: setup
	scripts/fuzz-host --build-dir $(BUILD) --runs $(FUZZ_RUNS)

# The in-guest syscall fuzzer (kernel_adversarial's last case: four threads on two CPUs, the fuzz
# factory's quota checked to return exactly) with FUZZ_CALLS calls instead of the suite's 50,000;
# the count travels on the kernel command line, and the log must show that it arrived.
FUZZ_CALLS ?= 10000000
fuzz-kernel: build
	python3 tests/harness/run_scenario.py --name kernel_fuzz --kernel $(BUILD)/kernel/metteagle.elf \
	  --append "user fuzz_calls=$(FUZZ_CALLS)" --timeout 3600 --log-dir $(BUILD)/scenario-logs \
	  --module $(BUILD)/user/kernel_adversarial.elf
	@grep -E "^# fuzzer: $(FUZZ_CALLS) calls" $(BUILD)/scenario-logs/kernel_fuzz.log

docs: build
	cmake --build $(BUILD) --target docs

clean:
	rm -rf $(BUILD)
