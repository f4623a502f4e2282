"""The viewer page in headless Chromium, for tests and benchmarks: Debian's ``chromium`` and
``chromium-driver`` driven by selenium (the ``test`` extra), WebGL2 in software (SwiftShader).
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from headsplat.apps.export.web import serve

CHROMIUM = os.environ.get("HEADSPLAT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HEADSPLAT_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--use-angle=swiftshader",  # WebGL2 on the CPU
    "--enable-unsafe-swiftshader",
    # This machine's network is closed: no background connections to refuse.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def missing() -> str | None:
    """Why the browser cannot run here (None: it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


class ViewerPage:
    """One viewer page open in headless Chromium (``driver`` a selenium WebDriver)."""

    def __init__(self, driver):
        self.driver = driver

    def call(self, script: str, *args):
        """Run ``script`` (JavaScript, ``arguments`` bound to ``args``) in the page; its return value."""
        return self.driver.execute_script(script, *args)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the page has drawn the avatar. Raises RuntimeError with the page's error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.call(
                "return window.headsplat ? [window.headsplat.ready, window.headsplat.error] : null"
            )
            if state and state[0]:
                return
            if state and state[1]:
                raise RuntimeError(f"the viewer failed: {state[1]}")
            time.sleep(0.1)
        raise RuntimeError("the viewer did not load in time")

    def canvas(self) -> np.ndarray:
        """(S, S, 3) float in [0, 1]: the canvas as it is drawn."""
        return self.call_with_canvas("return null")[1]

    def call_with_canvas(self, script: str, *args):
        """Run ``script`` and read the canvas in the same JavaScript task (nothing the page does
        in between, such as a frame drawn from a message that arrived): (its value, the canvas)."""
        value, url = self.call(
            f"const value = (() => {{ {script} }})();"
            "return [value, document.getElementById('canvas').toDataURL('image/png')];",
            *args,
        )
        data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
        return value, cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255

    def set_camera(self, K: np.ndarray, viewmat: np.ndarray) -> None:
        """Draw through a pinhole camera: K (3, 3) in canvas pixels, viewmat (4, 4) world -> OpenCV."""
        column_major = np.asarray(viewmat, np.float64).T.reshape(-1).tolist()
        camera = {"view": column_major, "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2]}
        self.call(
            "window.headsplat.setCamera(arguments[0])",
            {k: v if k == "view" else float(v) for k, v in camera.items()},
        )

    def set_slider(self, element_id: str, value: float) -> None:
        """Move a slider as a user would (its value, then its input event)."""
        self.call(
            "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
            "s.dispatchEvent(new Event('input')); window.headsplat.render();",
            element_id,
            value,
        )


@contextmanager
def open_page(url: str):
    """Open the viewer page at ``url`` in headless Chromium; yields a :class:`ViewerPage` once it has
    drawn the avatar."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(url)
        page = ViewerPage(driver)
        page.wait_ready()
        yield page
    finally:
        driver.quit()


@contextmanager
def open_viewer(folder: str | os.PathLike, size: int, query: str = ""):
    """Serve ``folder`` (a ``export --web`` folder) on 127.0.0.1 and open its page at a ``size`` px
    canvas in headless Chromium; yields a :class:`ViewerPage`."""
    server = serve(folder)
    try:
        with open_page(f"http://127.0.0.1:{server.server_address[1]}/index.html?size={size}{query}") as page:
            yield page
    finally:
        server.shutdown()
