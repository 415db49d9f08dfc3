"""The test set's encoder means in 2-D (PCA), coloured by digit or by the mixture component that
explains each best, with the component means marked."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from vae_explorer.app.image_view import ImageView
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.app.plot import PALETTE
from vae_explorer.core.config import prior_kind
from vae_explorer.core.explore import (
    NEGLIGIBLE_WEIGHT,
    Projection,
    decode_latents,
    latent_map,
)
from vae_explorer.core.grids import to_images
from vae_explorer.core.likelihood import IN_USE_SHARE, best_components, latent_statistics

from .base import Panel, missing_data_text

DIGIT_COLOURS = (*PALETTE, "#7f7f7f", "#bcbd22")
# components: 20 colours in pairs of a strong and a light shade, so neighbours in the legend differ
COMPONENT_COLOURS = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
    *("#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"),
    *("#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"),
)
PICK_PX = 8.0
SIDE_WIDTH = 190  # pixels of the picked images' column
TEST_IMAGES = 10_000  # MNIST's and Fashion-MNIST's test sets
MAP_TITLES = {
    "digit": "Test-set encoder means by digit label; crosses: component means (grey: unused)",
    "component": "Test-set encoder means by the component that explains each best; crosses: component means",
}
MAP_TITLE = MAP_TITLES["digit"]


@dataclass(frozen=True)
class MapData:
    coords: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,)
    images: np.ndarray  # (N, H, W) the test images in [0, 1]
    reconstructions: np.ndarray  # (N, H, W) decoder means of the encoder means
    component_coords: np.ndarray  # (K, 2), empty for the standard prior
    component_weights: np.ndarray  # (K,)
    projection: Projection
    is_pca: bool
    components: np.ndarray | None = None  # (N,) the component that explains each point best
    # (K,) whether each component is in use: it explains at least IN_USE_SHARE of the model's test
    # images, the Components tab's rule, counted over the same images
    in_use: np.ndarray | None = None


def map_job(limit: int):
    def job(ctx: ModelContext) -> MapData:
        n = min(limit, len(ctx.test_images()))
        x = ctx.test_inputs()[:n]
        z, proj = latent_map(ctx.model, x)
        recon = to_images(decode_latents(ctx.model, z), ctx.side)
        images = to_images(ctx.test_images()[:n].float().numpy() / 255.0, ctx.side)
        comps, weights, best, in_use = np.zeros((0, 2)), np.zeros(0), None, None
        if prior_kind(ctx.config.model.prior).components:
            w, means, log_vars = (t.cpu() for t in ctx.model.prior.component_params())
            comps, weights = proj.project(means.numpy()), w.numpy()
            best = best_components(
                z.astype(np.float64), w.double().numpy(), means.double().numpy(), log_vars.double().numpy()
            )
            stats = latent_statistics(ctx.model, ctx.test_inputs(), None)
            in_use = np.array([c.share >= IN_USE_SHARE for c in stats.components])
        return MapData(
            proj.project(z),
            ctx.test_labels()[:n].numpy(),
            images,
            recon,
            comps,
            weights,
            proj,
            z.shape[1] > 2,
            best,
            in_use,
        )

    return job


def decode_point_job(latent: np.ndarray):
    def job(ctx: ModelContext) -> np.ndarray:
        return to_images(decode_latents(ctx.model, latent[None]), ctx.side)[0]

    return job


class SideLegend(pg.LegendItem):
    """A legend laid out beside the view box: it keeps its place (no dragging) and hides no points."""

    def hoverEvent(self, ev) -> None:
        pass

    def mouseDragEvent(self, ev) -> None:
        ev.ignore()


class LatentMapPanel(Panel):
    title = "Latent map"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.data: MapData | None = None
        self.selected: int | None = None
        self.limit = QSpinBox()
        self.limit.setRange(100, 10_000)
        self.limit.setSingleStep(500)
        self.limit.setValue(3000)
        self.limit.setKeyboardTracking(False)
        self.colour_by = QComboBox()
        self.colour_by.addItem("digit", "digit")
        self.colour_by.addItem("component", "component")
        self.colour_by.setToolTip(
            "colour each point by its digit label or by the mixture component that explains it best"
        )
        self.plot = pg.PlotWidget(background="w")
        self.plot.setWindowTitle("Latent map")
        self.set_title(MAP_TITLE)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # one unit is as long across as up: a direction with 1% of the variance looks like it
        self.plot.setAspectLocked(True, ratio=1.0)
        for axis in ("left", "bottom"):
            self.plot.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)
        # the legend sits in its own column right of the view box, so it never hides points
        self.legend = SideLegend(labelTextColor="#222", verSpacing=-4)
        self.legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        plot_item = self.plot.getPlotItem()
        plot_item.layout.addItem(self.legend, 2, 3, alignment=Qt.AlignmentFlag.AlignTop)
        # the title spans the axis, view and legend columns: over the view column alone its width was
        # the view's minimum, which pushed the legend out of the plot in a narrow window
        plot_item.layout.removeItem(plot_item.titleLabel)
        plot_item.layout.addItem(plot_item.titleLabel, 0, 0, 1, 4)
        self.scatters: dict[int, pg.ScatterPlotItem] = {}  # by digit or component, in legend order
        self._legend_kind = "digit"
        self._legend_has_means = False
        self.means = pg.ScatterPlotItem(symbol="+", size=16, pen=pg.mkPen("k", width=2.5), brush=None)
        self.means.setZValue(10)
        self.mean_labels: list[pg.TextItem] = []
        self.marker = pg.ScatterPlotItem(symbol="o", size=14, pen=pg.mkPen("#d62728", width=2), brush=None)
        self.marker.setZValue(20)
        self.marker.screen_only = True  # the selection is not part of an exported map
        self.plot.addItem(self.means)
        self.plot.addItem(self.marker, ignoreBounds=True)  # a click does not rescale the axes
        self.image_view = ImageView("Hover or click a point")
        self.recon_view = ImageView("Its reconstruction")
        self.image_title = QLabel("<b>Test image</b>")
        self.recon_title = QLabel("<b>Reconstruction</b>")
        self.info_label = QLabel("Click empty space to decode that point.")
        self.info_label.setWordWrap(True)
        for v in (self.image_view, self.recon_view):
            v.setFixedSize(170, 170)
        for label in (self.image_title, self.recon_title, self.info_label):
            label.setWordWrap(True)
        side_panel = QWidget()
        side_panel.setFixedWidth(SIDE_WIDTH)  # what it shows never changes the plot's size
        side = QVBoxLayout(side_panel)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.image_title)
        side.addWidget(self.image_view)
        side.addWidget(self.recon_title)
        side.addWidget(self.recon_view)
        side.addWidget(self.info_label)
        side.addStretch(1)
        bar = QHBoxLayout()
        bar.addWidget(self.header, 1)
        bar.addWidget(QLabel("Colour by"))
        bar.addWidget(self.colour_by)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Test images shown"))
        bar.addWidget(self.limit)
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        body.addWidget(side_panel)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.notice)
        layout.addLayout(body, 1)
        self.limit.valueChanged.connect(self.refresh)
        self.colour_by.currentIndexChanged.connect(self._recolour)
        self.plot.scene().sigMouseMoved.connect(self._hovered)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

    @property
    def colour_kind(self) -> str:
        """'component' when chosen and the model has a mixture, else 'digit'."""
        if self.colour_by.currentData() == "component" and (
            self.data is None or self.data.components is not None
        ):
            return "component"
        return "digit"

    def _recolour(self) -> None:
        if self.data is not None:
            self._show(self.data)

    def set_title(self, text: str) -> None:
        self.plot.setTitle(text, color="#222", size="10pt")

    def on_model_loaded(self, info: ModelInfo) -> None:
        # no more points than the model's test set holds
        cap = min(TEST_IMAGES, info.config.data.limit_test or TEST_IMAGES)
        self.limit.blockSignals(True)
        self.limit.setRange(min(100, cap), cap)
        self.limit.setValue(min(self.limit.value(), cap))
        self.limit.blockSignals(False)
        self.limit.setEnabled(info.data_error is None)
        if info.data_error is not None:  # the map is of test images: drop the previous model's map
            self.clear_map()
            self.set_notice(missing_data_text(info, "the latent map"))
        self.refresh()

    def refresh(self) -> None:
        if self.has_test_data:
            self.service.submit("latent-map", map_job(self.limit.value()), self._show, self._failed)

    def _failed(self, message: str) -> None:
        self.clear_map()
        self.set_notice(f"<b>Cannot draw the latent map:</b> {escape(message)}")

    def clear_map(self) -> None:
        """Remove every point, mark and picked image, so nothing of another model stays on show."""
        self.service.cancel("latent-map")
        self.service.cancel("latent-map-point")
        self.data = None
        self.selected = None
        self._rebuild_legend([], False, self._legend_kind)
        self.means.setData([], [])
        self.marker.setData([], [])
        for label in self.mean_labels:
            label.setVisible(False)
        self.image_title.setText("<b>Test image</b>")
        self.recon_title.setText("<b>Reconstruction</b>")
        self.image_view.set_image(None)
        self.recon_view.set_image(None)
        self.recon_view.set_placeholder("Its reconstruction")
        self.info_label.setText("")
        self.set_title("No latent map: it needs the test images (see the message above)")
        self.plot.setLabel("bottom", "")
        self.plot.setLabel("left", "")

    def _show(self, data: MapData) -> None:
        """Draw a new map. The digit scatters, legend and component labels are made once and then
        only given new data: building pyqtgraph items is what made each new model stall the GUI."""
        self.set_notice(None)
        self.data = data
        self.colour_by.setEnabled(data.components is not None)
        kind = self.colour_kind
        self.set_title(MAP_TITLES[kind])
        groups_of = data.components if kind == "component" else data.labels
        groups = [int(d) for d in np.unique(groups_of)]
        has_means = len(data.component_coords) > 0
        if groups != list(self.scatters) or has_means != self._legend_has_means or kind != self._legend_kind:
            self._rebuild_legend(groups, has_means, kind)
        for group, item in self.scatters.items():
            pts = data.coords[groups_of == group]
            item.setData(pts[:, 0], pts[:, 1])
        used = data.in_use if data.in_use is not None else data.component_weights >= NEGLIGIBLE_WEIGHT
        pens = [pg.mkPen("k" if u else "#999", width=2.5 if u else 1.5) for u in used]
        self.means.setData(
            data.component_coords[:, 0],
            data.component_coords[:, 1],
            pen=pens,
            size=[16 if u else 11 for u in used],
        )
        while len(self.mean_labels) < len(data.component_coords):
            label = pg.TextItem(anchor=(-0.2, 1.1))
            self.plot.addItem(label)
            self.mean_labels.append(label)
        for k, label in enumerate(self.mean_labels):
            if k < len(data.component_coords):
                x, y = data.component_coords[k]
                label.setText(str(k), color="#000")
                label.setPos(x, y)
            # unused components (grey crosses, often on top of each other) go unlabelled
            label.setVisible(k < len(data.component_coords) and bool(used[k]))
        if data.is_pca:
            ex = data.projection.explained * 100
            self.plot.setLabel("bottom", f"principal direction 1 ({ex[0]:.0f}% of variance)")
            self.plot.setLabel("left", f"principal direction 2 ({ex[1]:.0f}% of variance)")
        else:
            self.plot.setLabel("bottom", "z₁")
            self.plot.setLabel("left", "z₂")
        if self.selected is not None and self.selected < len(data.coords):
            self.select(self.selected)

    def _rebuild_legend(self, groups: list[int], has_means: bool, kind: str = "digit") -> None:
        for item in self.scatters.values():
            self.plot.removeItem(item)
        self.legend.clear()
        self.scatters = {}
        palette = COMPONENT_COLOURS if kind == "component" else DIGIT_COLOURS
        for group in groups:
            colour = palette[group % len(palette)]
            item = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(colour))
            item.setOpacity(0.75)
            self.plot.addItem(item)
            self.scatters[group] = item
            self.legend.addItem(item, f"k = {group}" if kind == "component" else str(group))
        self._legend_kind = kind
        if has_means:
            self.legend.addItem(self.means, "component means")
        self._legend_has_means = has_means

    # -- picking ---------------------------------------------------------------------------------
    def point_at(self, scene_pos: QPointF) -> int | None:
        """Index of the plotted point within PICK_PX pixels of scene_pos, nearest first."""
        if self.data is None or not len(self.data.coords):
            return None
        vb = self.plot.getPlotItem().getViewBox()
        view = vb.mapSceneToView(scene_pos)
        px = vb.viewPixelSize()
        d = np.hypot((self.data.coords[:, 0] - view.x()) / px[0], (self.data.coords[:, 1] - view.y()) / px[1])
        i = int(d.argmin())
        return i if d[i] <= PICK_PX else None

    def scene_pos_of(self, index: int) -> QPointF:
        vb = self.plot.getPlotItem().getViewBox()
        x, y = self.data.coords[index]
        return vb.mapViewToScene(QPointF(float(x), float(y)))

    def select(self, index: int) -> None:
        self.selected = index
        d = self.data
        which = f", component {int(d.components[index])}" if d.components is not None else ""
        self.image_title.setText(f"<b>Test image #{index}</b> (digit {int(d.labels[index])}{which})")
        self.image_view.set_image(d.images[index])
        self.recon_title.setText("<b>Reconstruction</b>")
        self.recon_view.set_image(d.reconstructions[index])
        self.marker.setData([d.coords[index, 0]], [d.coords[index, 1]])
        self.info_label.setText(f"map position ({d.coords[index, 0]:.2f}, {d.coords[index, 1]:.2f})")

    def _hovered(self, scene_pos: QPointF) -> None:
        index = self.point_at(scene_pos)
        if index is not None:
            self.select(index)

    def _clicked(self, event) -> None:
        if self.data is None or event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.point_at(event.scenePos())
        if index is not None:
            self.select(index)
            return
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        self.decode_at(p.x(), p.y())

    def decode_at(self, x: float, y: float) -> None:
        """Decode the latent mean + x * axis1 + y * axis2 and show it."""
        if self.data is None:
            return
        latent = self.data.projection.unproject(np.array([x, y]))
        self.marker.setData([x], [y])
        self.image_title.setText("<b>Decoded point</b>")
        self.recon_title.setText("<b>Reconstruction</b>")
        self.recon_view.set_placeholder("none: this image is generated, not encoded")
        self.recon_view.set_image(None)
        self.image_view.set_image(None)
        self.info_label.setText(f"generated from map position ({x:.2f}, {y:.2f})")
        self.service.submit(
            "latent-map-point", decode_point_job(latent.astype(np.float32)), self.image_view.set_image
        )

    def export_targets(self):
        return {"latent_map": ("Latent map", self.plot)}
