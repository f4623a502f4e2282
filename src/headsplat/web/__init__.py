"""The browser viewer's page (``index.html``, ``viewer.js``, ``splat.js``, ``viewer.css``): plain
ES modules and WebGL2, nothing to build; written beside an export by :mod:`headsplat.apps.export.web`."""
