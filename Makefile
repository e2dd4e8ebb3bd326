# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv, install the pinned dependencies and build the ROS interface packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROS_ENV := .build/ros_env.sh

.PHONY: demo test lint bench setup system-deps ros-interfaces clean

setup: $(STAMP) $(ROS_ENV)

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

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q test

demo: setup
	$(BIN)/python -m avemotion_ros.demo

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .build
