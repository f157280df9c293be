"""Paint a :class:`~graphclr.synth.case.SyntheticCase` into a ``uint8 [size, size]`` image.

:class:`Renderer` keeps per-size coordinate grids, fixed noise/texture banks and loaded
backgrounds, and paints with vectorised NumPy (a few milliseconds at 224 px): body and
lungs (a soft ellipse per lung, cut by the domes and the mediastinum), ribs, spine,
clavicles and heart, then each drawn finding in its window, lung markings, devices (PIL
lines), quantum noise and an exposure curve. Brighter = denser (bone, fluid, heart); darker
= air. The patient's *right* is on the image's *left* (PA display), so a left effusion
shades the image's right base.

Examples:
    >>> from graphclr.synth.case import plan_case
    >>> img = Renderer(64).render(plan_case(None, "case-1", 0))
    >>> img.shape, img.dtype.name
    ((64, 64), 'uint8')
"""

from __future__ import annotations

import math

import numpy as np

from graphclr.synth.case import SIZE_SCALE, Patient, SyntheticCase

__all__ = ["Renderer", "render_case"]


def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (d < 1), 0 outside, linear ramp of width ``edge`` (in d units) at the border."""
    out = (1.0 - d) * (1.0 / edge)
    return np.clip(out, 0.0, 1.0, out=out)


class Renderer:
    """Paints :class:`SyntheticCase` objects; keeps coordinate grids and backgrounds per size.

    One renderer per process (it is cheap); it holds no global state.
    """

    #: seed of the renderer's fixed noise and texture banks (part of the benchmark version)
    BANK_SEED = 20240229

    def __init__(self, size: int = 224) -> None:
        if size < 32:
            raise ValueError(f"size must be >= 32 pixels, got {size}")
        self.size = size
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x = c[None, :]
        self.y = c[:, None]
        self._bg: dict[str, np.ndarray] = {}
        # Fixed banks of noise and smooth texture, twice the image size; each case takes a
        # seeded crop. Drawing fresh Gaussian fields per image would cost most of the budget.
        bank = np.random.default_rng(self.BANK_SEED)
        self._noise = bank.standard_normal((2 * size, 2 * size), dtype=np.float32)
        self._texture = self._lowpass(bank, max(8, size // 8) * 2, 2 * size)
        self._patches = self._lowpass(bank, 20, 2 * size)

    def _crop(self, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        oy, ox = (int(v) for v in rng.integers(0, bank.shape[0] - self.size + 1, size=2))
        out = bank[oy:oy + self.size, ox:ox + self.size]
        return out[:, ::-1] if rng.random() < 0.5 else out

    # --- helpers ----------------------------------------------------------------------
    def _ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> np.ndarray:
        dx, dy = self.x - cx, self.y - cy
        if angle:
            ca, sa = math.cos(angle), math.sin(angle)
            dx, dy = dx * ca + dy * sa, -dx * sa + dy * ca
        return (dx / rx) ** 2 + (dy / ry) ** 2

    @staticmethod
    def _lowpass(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
        """Smooth noise in about [-1, 1] (bicubic upsampling of a coarse random grid)."""
        from PIL import Image

        g = rng.standard_normal((cells, cells)).astype(np.float32)
        img = Image.fromarray(g, mode="F").resize((size, size), Image.BICUBIC)
        return np.asarray(img, dtype=np.float32) / 1.5

    def _window(self, cx: float, cy: float, rx: float, ry: float) -> tuple[slice, slice]:
        """Pixel rows/columns covering the box ``cx +- rx, cy +- ry`` (clipped to the image)."""
        s = self.size
        r0, r1 = max(0, int((cy - ry) * s) - 1), min(s, int((cy + ry) * s) + 2)
        c0, c1 = max(0, int((cx - rx) * s) - 1), min(s, int((cx + rx) * s) + 2)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def _local_ellipse(self, win: tuple[slice, slice], cx: float, cy: float, rx: float, ry: float,
                       angle: float = 0.0) -> np.ndarray:
        dx, dy = self.x[:, win[1]] - cx, self.y[win[0], :] - cy
        if angle:
            ca, sa = math.cos(angle), math.sin(angle)
            dx, dy = dx * ca + dy * sa, -dx * sa + dy * ca
        return (dx / rx) ** 2 + (dy / ry) ** 2

    def _lung(self, p: Patient, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Soft lung mask and the normalised elliptic radius (2 outside its box), for one side."""
        lx, ly, la, lb = p.lung_center(side)
        win = self._window(lx, ly, la * 1.05, lb * 1.05)
        xs = self.x[:, win[1]]
        d = self._local_ellipse(win, lx, ly, la, lb)
        dome = p.dome(side)
        ydome = dome - 0.05 * np.clip(1 - ((xs - lx) / la) ** 2, 0, 1)
        below = np.clip((ydome - self.y[win[0], :]) * (1 / 0.012), 0, 1)
        # medial border straighter than lateral: cut by the mediastinum
        sign = 1.0 if side == "left" else -1.0
        medial = np.clip((sign * (xs - p.cx) - 0.055) * (1 / 0.02), 0, 1)
        mask = np.zeros((self.size, self.size), np.float32)
        rad = np.full((self.size, self.size), 2.0, np.float32)
        mask[win] = _soft(d, 0.12) * below * medial
        rad[win] = np.sqrt(d)
        return mask, rad

    def background(self, path: str) -> np.ndarray:
        if path not in self._bg:
            from graphclr.data.images import load_image, resize_square

            img = resize_square(load_image(path, decode_size=self.size), self.size)
            self._bg[path] = np.asarray(img, dtype=np.float32) / 255.0
        return self._bg[path]

    # --- the painting -------------------------------------------------------------------
    def render(self, case: SyntheticCase) -> np.ndarray:
        """The case as a ``uint8 [size, size]`` image."""
        p = case.patient
        x, y = self.x, self.y
        rng = np.random.default_rng(case.texture_seed)
        tex = self._crop(self._texture, rng)
        patch = self._crop(self._patches, rng)
        noise = self._crop(self._noise, rng)
        lung_r, rad_r = self._lung(p, "right")
        lung_l, rad_l = self._lung(p, "left")
        lungs = np.maximum(lung_r, lung_l)
        half = p.thorax_w / 2

        if case.background is None:
            img = _soft(self._ellipse(p.cx, 0.62, half + 0.09, 0.62), 0.06)
            img *= p.body - 0.04
            img += 0.04
            u2 = ((x - p.cx) * (1.0 / half)) ** 2
            rib = np.cos((y + p.rib_curve * u2) * (2 * math.pi / p.rib_spacing) + 2 * math.pi * p.rib_phase)
            ribs = np.clip((rib - 0.44) * 2.0, 0, 1, out=rib)
            ribs *= u2 < 1.0
            img -= lungs * (p.body - p.lung - 0.07 * ribs)
            col = np.abs(x - p.cx)
            img += _soft(col * (1 / 0.035), 0.5) * 0.05  # spine
            # mediastinum (tapering upwards) and trachea
            med_w = 0.045 + 0.03 * np.clip((y - p.top) / (p.heart_cy - p.top), 0, 1)
            med = _soft(np.abs(x - p.cx - 0.008) / med_w, 0.3) * (y < p.heart_cy)
            np.maximum(img, med * (p.dense - 0.06), out=img)
            img -= _soft(col * (1 / 0.011), 0.5) * ((y < p.top + 0.16) * 0.14)
            for sign in (-1.0, 1.0):  # clavicles
                x0, x1 = p.cx + sign * 0.05, p.cx + sign * half * 0.92
                win = self._window((x0 + x1) / 2, p.top, abs(x1 - x0) / 2, 0.06)
                xs, ys = x[:, win[1]], y[win[0], :]
                yc = p.top + 0.025 - 0.05 * (xs - x0) / (x1 - x0)
                img[win] += _soft(np.abs(ys - yc) * (1 / 0.013), 0.6) * 0.12
        else:
            img = self.background(case.background).copy()
        ptx = np.zeros_like(lungs)  # pneumothorax: lung markings removed there

        normal = (p.cx + p.heart_shift, p.heart_cy, p.heart_ctr * half, p.heart_ry)
        heart_geo = normal
        for f in case.findings:
            if f.drawn and f.name == "cardiomegaly":
                heart_geo = (p.cx + p.heart_shift + 0.015, p.heart_cy + 0.01, f.extra["ctr"] * half,
                             p.heart_ry * 1.12)
        win = self._window(heart_geo[0], heart_geo[1], heart_geo[2] * 1.2, heart_geo[3] * 1.2)
        heart = _soft(self._local_ellipse(win, *heart_geo), 0.15)
        if case.background is None:
            np.maximum(img[win], heart * p.dense, out=img[win])
        elif heart_geo is not normal:  # on a real radiograph: add the enlargement only
            img[win] += np.clip(heart - _soft(self._local_ellipse(win, *normal), 0.15), 0, 1) * 0.3

        fluid_to = p.body + 0.12

        def fill(win: tuple[slice, slice], weight: np.ndarray, target: float) -> None:
            """Raise pixels towards ``target`` (never past it): densities do not stack to white."""
            region = img[win]
            region += weight * np.clip(target - region, 0, None)
        for f in case.findings:
            if not f.drawn or f.name in ("cardiomegaly", "device"):
                continue
            side = f.side if f.side in ("left", "right") else "right"
            lung = lung_l if side == "left" else lung_r
            scale = SIZE_SCALE.get(f.size, 1.0)
            if f.name == "effusion":
                lx, ly, la, lb = p.lung_center(side)
                dome = p.dome(side)
                height = {"small": 0.13, "moderate": 0.24, "large": 0.4}.get(f.size or "", 0.2)
                win = self._window(lx, (dome + ly) / 2, la * 1.1, (dome - ly) / 2 + 0.06)
                xs, ys = x[:, win[1]], y[win[0], :]
                lateral = np.clip((xs - lx) * ((1 if side == "left" else -1) / la), -1, 1)
                surface = dome - height * (dome - p.top) - 0.07 * np.clip(lateral + 0.3, 0, None) ** 2
                fluid = np.clip((ys - surface) * (1 / 0.015), 0, 1)
                region = _soft(self._local_ellipse(win, lx, ly, la * 1.02, lb * 1.06), 0.12)
                region = np.maximum(region, lung[win])
                fill(win, fluid * region, fluid_to)
            elif f.name == "pneumothorax":
                rad = rad_l if side == "left" else rad_r
                depth = {"small": 0.12, "moderate": 0.2, "large": 0.32}.get(f.size or "", 0.18)
                lx, ly, la, lb = p.lung_center(side)
                apical = np.clip((ly + 0.05 - y) * (1 / 0.05), 0, 1)
                inner = rad - (1 - depth)
                region = np.clip(inner * (1 / 0.01), 0, 1) * apical * lung
                line = _soft(np.abs(inner) * (1 / 0.012), 0.5) * apical * (lung > 0.2)
                np.maximum(ptx, region, out=ptx)
                img += line * 0.13 - region * 0.06
            elif f.name in ("consolidation", "opacity", "pneumonia"):
                dens, edge = {"consolidation": (0.85, 0.35), "opacity": (0.5, 0.8),
                              "pneumonia": (0.75, 0.5)}[f.name]
                win = self._window(f.x, f.y, f.r * 1.7, f.r * 1.6)
                if f.name == "pneumonia":
                    blob = np.zeros(img[win].shape, np.float32)
                    sub = np.random.default_rng(int(f.extra["phase"] * 1e6))
                    for _ in range(5):
                        bx = f.x + sub.uniform(-1, 1) * f.r * 0.7
                        by = f.y + sub.uniform(-1, 1) * f.r * 0.7
                        np.maximum(blob, _soft(self._local_ellipse(win, bx, by, f.r * 0.45, f.r * 0.4), 0.6),
                                   out=blob)
                else:
                    blob = _soft(self._local_ellipse(win, f.x, f.y, f.r * 1.15, f.r, f.extra["angle"]), edge)
                fill(win, blob * (0.75 + 0.25 * patch[win]) * dens * np.clip(lung[win] * 1.5, 0, 1),
                     p.body + 0.1)
            elif f.name == "atelectasis":
                win = self._window(f.x, f.y, f.r * 1.3, f.r * 0.5)
                band = _soft(self._local_ellipse(win, f.x, f.y, f.r * 1.2, 0.018 * scale,
                                                 f.extra["angle"] * 0.5), 0.5)
                fill(win, band * 0.9 * np.clip(lung[win] * 1.5, 0, 1), p.body + 0.12)
            elif f.name == "nodule":
                win = self._window(f.x, f.y, f.r * 1.2, f.r * 1.2)
                fill(win, _soft(self._local_ellipse(win, f.x, f.y, f.r, f.r), 0.25) * 0.8, p.body + 0.15)
            elif f.name == "mass":
                win = self._window(f.x, f.y, f.r * 1.3, f.r * 1.3)
                dx, dy = x[:, win[1]] - f.x, y[win[0], :] - f.y
                r2 = dx ** 2 + dy ** 2
                sin_t = dy / np.sqrt(r2 + 1e-12)
                cos_t = dx / np.sqrt(r2 + 1e-12)
                ph = f.extra["phase"]
                sin3 = 3 * sin_t - 4 * sin_t ** 3  # sin(3t); cos(3t) = 4cos^3 - 3cos
                cos3 = 4 * cos_t ** 3 - 3 * cos_t
                rr = f.r * (1 + 0.12 * (sin3 * math.cos(ph) + cos3 * math.sin(ph)))
                fill(win, _soft(r2 / rr ** 2, 0.2) * 0.85, p.body + 0.15)
            elif f.name == "edema":
                dens = {"small": 0.3, "moderate": 0.45, "large": 0.6}.get(f.size or "", 0.4)
                for s_name, lung_s in (("right", lung_r), ("left", lung_l)):
                    sign = 1.0 if s_name == "left" else -1.0
                    hx = p.cx + sign * 0.13
                    hy = p.top + 0.5 * (p.dome(s_name) - p.top)
                    win = self._window(hx, hy, 0.25, 0.35)
                    d = self._local_ellipse(win, hx, hy, 0.1, 0.14)
                    fill(win, np.exp(-d) * lung_s[win] * (dens * (0.8 + 0.3 * tex[win])), p.body)
        img += tex * (0.05 * lungs * (1 - ptx))  # lung markings
        img = self._devices(case, img)

        img += noise * p.noise
        out = np.clip(img, 0, 1, out=img)
        out *= 255.0
        lut = (np.linspace(0, 1, 256) ** p.gamma * 255 + 0.5).astype(np.uint8)  # exposure
        return lut[out.astype(np.uint8)]

    def _devices(self, case: SyntheticCase, img: np.ndarray) -> np.ndarray:
        devices = [f for f in case.findings if f.drawn and f.name == "device"]
        if not devices:
            return img
        from PIL import Image, ImageDraw

        s = self.size
        p = case.patient
        layer = Image.new("L", (s, s), 0)
        draw = ImageDraw.Draw(layer)
        w = max(1, round(s / 150))

        def px(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(a * s, b * s) for a, b in pts]

        half = p.thorax_w / 2
        for f in devices:
            sign = 1.0 if f.side == "left" else -1.0
            if f.kind == "ett":
                for dx in (-0.006, 0.006):
                    draw.line(px([(p.cx + dx, 0.0), (p.cx + dx, p.top + 0.13)]), fill=255, width=w)
            elif f.kind == "ng_tube":
                pts = [(p.cx - 0.01, 0.0), (p.cx - 0.008, p.top + 0.3), (p.cx + 0.01, p.dome_l),
                       (p.cx + 0.1, p.dome_l + 0.07), (p.cx + 0.16, p.dome_l + 0.05)]
                draw.line(px(pts), fill=230, width=w)
            elif f.kind == "pacemaker":
                bx, by = p.cx + sign * half * 0.62, p.top + 0.05
                draw.rectangle(px([(bx - 0.035, by - 0.022), (bx + 0.035, by + 0.022)]), fill=255)
                pts = [(bx, by), (p.cx + sign * 0.06, p.top + 0.12), (p.cx + 0.01, p.heart_cy - 0.05),
                       (p.cx + p.heart_shift + 0.05, p.heart_cy + 0.04)]
                draw.line(px(pts), fill=240, width=w)
            elif f.kind == "chest_tube":
                lx, ly, la, lb = p.lung_center(f.side or "right")
                pts = [(lx + sign * la * 1.1, p.dome(f.side or "right") - 0.02),
                       (lx + sign * la * 0.6, ly), (lx, p.top + 0.06)]
                draw.line(px(pts), fill=235, width=w + 1)
            else:  # central line / PICC
                pts = [(p.cx + sign * half * 0.95, p.top - 0.02), (p.cx + sign * half * 0.5, p.top + 0.03),
                       (p.cx + sign * 0.03, p.top + 0.08), (p.cx - 0.02, p.top + 0.22)]
                draw.line(px(pts), fill=230, width=w)
        return img + np.asarray(layer, dtype=np.float32) / 255.0 * 0.45


def render_case(case: SyntheticCase, size: int = 224, renderer: Renderer | None = None) -> np.ndarray:
    """Render one case (see :class:`Renderer`; pass one to reuse its grids)."""
    if renderer is None or renderer.size != size:
        renderer = Renderer(size)
    return renderer.render(case)
