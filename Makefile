# MettEagle front door: `make run` boots the system, `make test` builds and runs every test,
# `make bench` measures against the Linux baseline. Each installs what it needs first.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=

.PHONY: all setup configure build run test bench docs clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja: CMakeLists.txt | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: setup configure
	cmake --build $(BUILD)

run: build
	scripts/launch --kernel $(BUILD)/kernel/metteagle.elf --build-dir $(BUILD) --boot-config config/system.boot \
	  --forward 8080:8080

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j2

bench: build
	bench/run-all $(BUILD)

docs: build
	cmake --build $(BUILD) --target docs

clean:
	rm -rf $(BUILD)
