"""Rewrite a PySide6-Essentials wheel without what this app never loads, so that it fits the
64 MiB a GPU machine's working tree may carry (the full wheel is about 80 MB).

Kept: the Python bindings and Qt libraries of QtCore, QtGui, QtWidgets, QtSvg, QtTest, QtOpenGL(,
Widgets), QtNetwork and QtDBus, ICU, and the platform, image-format and icon plugins. Dropped:
QML and Quick, Designer, Wayland, the translations and the developer tools. The RECORD keeps the
lines of the files kept, so pip installs the result like any wheel.

Usage: python benchmarks/gpu/slim_wheel.py IN.whl OUT_DIR
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

DROP = re.compile(
    r"""^PySide6/(
        Qt/(qml|translations|metatypes|libexec|resources/qtwebengine)/
      | Qt/plugins/(qml|designer|wayland|qmltooling|qmllint|scxml|sceneparsers|assetimporters|sqldrivers)
      | Qt/lib/libQt6(Quick|Qml|Designer|Wayland|Help|UiTools|Labs|ShaderTools|Sql|Concurrent
                     |PrintSupport|Xml|StateMachine|Charts|DataVisualization|Graphs|Pdf|Multimedia
                     |WebChannel|WebSockets|Positioning|Sensors|SerialPort|RemoteObjects|Scxml
                     |Spatial|TextToSpeech|3D|VirtualKeyboard|NetworkAuth|Nfc|Bluetooth|HttpServer)
      | (include|typesystems|glue|doc|scripts)/
      | (designer|assistant|linguist|lupdate|lrelease|qml\w*|balsam\w*|uic|rcc|svgtoqml)$
      | Qt(Quick|Qml|Designer|UiTools|Help|Sql|Concurrent|Xml|PrintSupport|StateMachine
           |Network?Auth)\w*\.abi3\.so$
      | libpysideqml
      | .*\.pyi$
    )""",
    re.VERBOSE,
)


def main(source: str, out_dir: str) -> None:
    src = Path(source)
    out = Path(out_dir) / src.name
    with zipfile.ZipFile(src) as whl:
        names = [n for n in whl.namelist() if not DROP.match(n)]
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        kept = set(names)
        lines = whl.read(record).decode().splitlines()
        lines = [line for line in lines if line.split(",", 1)[0] in kept]
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as slim:
            for name in names:
                info = whl.getinfo(name)
                data = "\n".join(lines).encode() + b"\n" if name == record else whl.read(name)
                slim.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB (was {src.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
