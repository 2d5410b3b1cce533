# fast_hamer_ros: the two commands of a fresh machine are `make demo` and `make test`.
# Both create the environment themselves (idempotent) in $(VENV), outside the clone so that it is
# reused across clones and CI runs; `make -s env-path` prints it.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= $(HOME)/.cache/fast_hamer/venv
INPUT ?= ../shared/data/hands
OUT ?= demo_out
CHECKPOINT ?=
MANO ?=
DEVICE ?= auto
PYTEST_ARGS ?=

BIN := $(VENV)/bin
# The dependency stamp changes whenever the pinned dependencies in setup.py change.
DEPS_HASH := $(shell sha256sum setup.py | cut -c1-16)
STAMP := $(VENV)/.fast_hamer_deps_$(DEPS_HASH)
# The YOLO backend's ultralytics pin (setup.py's ULTRALYTICS), installed without its opencv-python.
ULTRALYTICS := $(shell sed -n 's/^ULTRALYTICS = "\(.*\)"$$/\1/p' setup.py)

# Root runs apt-get itself; anyone else through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: env env-path check-opencv browser demo test lint format clean-env help

help:
	@echo "make demo [INPUT=folder|video|bag|/dev/videoN] [CHECKPOINT=...] [MANO=...]  run the node on real input"
	@echo "make test                                                           run the test suite"
	@echo "make env / make -s env-path                                         create / print the environment"

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade 'pip>=24' >/dev/null
	$(BIN)/python -m pip install -e '.[all]'
	$(BIN)/python -m pip install --no-deps '$(ULTRALYTICS)'
	@$(MAKE) -s check-opencv VENV=$(VENV)
	@rm -f $(VENV)/.fast_hamer_deps_*
	@touch $(STAMP)

env: $(STAMP) browser
	@# Re-point the editable install at this clone (cheap), then build what ROS wheels lack (tf2_msgs).
	@$(BIN)/python -m pip install --no-deps --no-build-isolation -e . >/dev/null
	@$(BIN)/python -m fast_hamer_ros.bootstrap --prefix $(VENV)

# Headless Chromium for the browser viewer's tests (Debian's package); nothing to do when it is there.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing chromium (apt) for the viewer's browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# One OpenCV (mediapipe's opencv-contrib-python) and no broken requirement but the deliberate one
# (ultralytics' opencv-python, which opencv-contrib-python's cv2 stands in for).
check-opencv:
	@$(BIN)/python -m pip check | grep -v -e '^ultralytics .* requires opencv-python, which is not installed\.$$' \
		-e '^No broken requirements found\.$$' | (! grep .) || { echo "pip check: broken requirements (above)"; exit 1; }
	@$(BIN)/python -c "import importlib.metadata as m, cv2; \
		extra = sorted({d.metadata['Name'].lower() for d in m.distributions()} & \
		{'opencv-python', 'opencv-python-headless', 'opencv-contrib-python-headless'}); \
		assert not extra, f'a second OpenCV is installed: {extra}'; print('one OpenCV:', cv2.__version__, cv2.__file__)"

env-path:
	@echo $(VENV)

# The demo rewrites $(OUT): overlay images, overlay.mp4, summary.json and the MCAP $(OUT)/hands/hands.mcap.
demo: env
	@rm -rf "$(OUT)/hands"
	$(BIN)/python -m fast_hamer_ros.run --input "$(INPUT)" --out "$(OUT)" --device $(DEVICE) --record hands.mcap \
		$(if $(CHECKPOINT),--checkpoint "$(CHECKPOINT)") $(if $(MANO),--mano "$(MANO)")

test: env
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: env
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean-env:
	rm -rf $(VENV)
