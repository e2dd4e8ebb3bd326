# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv, install the pinned dependencies and build the ROS interface packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROS_ENV := .build/ros_env.sh
# avemotion_ros registered in an ament prefix (on AMENT_PREFIX_PATH in $(ROS_ENV)), so that the
# ament index finds its launch file, params file and emotion_node as ros2 launch / ros2 run do.
AMENT_PREFIX := .build/install
AMENT_ENTRY := $(AMENT_PREFIX)/share/ament_index/resource_index/packages/avemotion_ros

.PHONY: demo test lint bench mutation setup system-deps ros-interfaces ament-install clean

setup: $(STAMP) $(ROS_ENV) $(AMENT_ENTRY)

system-deps:
	@scripts/install_system_deps.sh

$(STAMP): requirements.txt requirements-dev.txt requirements-ros.txt setup.py
	@scripts/install_system_deps.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24" setuptools wheel
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(ROS_ENV): $(STAMP) scripts/build_ros_interfaces.sh $(wildcard ros_interfaces/*/msg/*.msg ros_interfaces/*/CMakeLists.txt ros_interfaces/*/package.xml)
	scripts/build_ros_interfaces.sh $(VENV) .build

ros-interfaces: $(ROS_ENV)

$(AMENT_ENTRY): $(STAMP) scripts/install_ament_prefix.sh $(wildcard launch/*.py config/*.yaml config/*.xml)
	scripts/install_ament_prefix.sh $(VENV) $(AMENT_PREFIX)

ament-install: $(AMENT_ENTRY)

# Two pytest-xdist workers (CI's two cores; test/conftest.py gives each its own ROS domain), one
# test file per worker at a time so module fixtures are built once.  Serial: make test WORKERS=0
WORKERS ?= 2

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile test

demo: setup
	$(BIN)/python -m avemotion_ros.tools.demo

bench: setup
	$(BIN)/python bench/run_all.py

# Mutation testing (cosmic-ray) of messages.py, faces.py, window.py and the replay scoring, each
# against its own fast tests, in private copies of the work tree; not part of `make test` or CI.
# One module: make mutation MODULES=messages.  Results: TESTING.md explains them.
mutation: setup
	$(BIN)/python scripts/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) .build
