/*
 * nnla-digits' charts as inline SVG: axes with ticks and labels, a legend, lines or coloured points.
 * No plotting library and nothing fetched: the page opens offline in any browser.
 */
#include "report.h"

#include <math.h>
#include <string.h>

#define W 640
#define H 340
#define ML 64 /* margins: left, right, top, bottom */
#define MR 220
#define MT 36
#define MB 48

static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

void rep_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else
            fputc(*s, f);
    }
}

/* A "nice" step for about n ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int n)
{
    double raw = (hi - lo) / n, p = pow(10.0, floor(log10(raw))), r = raw / p;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * p;
}

static void frame(FILE *f, const char *title, const char *xlabel, const char *ylabel)
{
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">", ML);
    rep_text(f, title);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + (W - ML - MR) / 2, H - 10);
    rep_text(f, xlabel);
    fprintf(f, "</text>\n<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
            MT + (H - MT - MB) / 2, MT + (H - MT - MB) / 2);
    rep_text(f, ylabel);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", ML, MT,
            W - ML - MR, H - MT - MB);
}

typedef struct axes {
    double x0, x1, y0, y1;
    int logy;
} axes;

static double px(const axes *a, double x) { return ML + (x - a->x0) / (a->x1 - a->x0) * (W - ML - MR); }

static double py(const axes *a, double y)
{
    double v = a->logy ? log10(y) : y;
    return H - MB - (v - a->y0) / (a->y1 - a->y0) * (H - MT - MB);
}

static void ticks(FILE *f, const axes *a)
{
    double st = nice_step(a->x0, a->x1, 6);
    for (double t = ceil(a->x0 / st) * st; t <= a->x1 + 1e-9 * st; t += st) {
        double x = px(a, t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>", x, H - MB, x, H - MB + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, H - MB + 16, t);
    }
    if (a->logy) {
        for (double e = ceil(a->y0); e <= a->y1 + 1e-9; e += 1) {
            double y = H - MB - (e - a->y0) / (a->y1 - a->y0) * (H - MT - MB);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", ML, y, W - MR, y);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%g</text>\n", ML - 4, y + 4, e);
        }
        return;
    }
    st = nice_step(a->y0, a->y1, 5);
    for (double t = ceil(a->y0 / st) * st; t <= a->y1 + 1e-9 * st; t += st) {
        double y = py(a, t);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", ML, y, W - MR, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 4, y + 4, t);
    }
}

static void legend(FILE *f, size_t i, const char *name, const char *color, int dashed, int dot)
{
    double y = MT + 10 + 18.0 * (double)i;
    if (dot)
        fprintf(f, "<circle cx=\"%d\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", W - MR + 16, y, color);
    else
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>", W - MR + 8,
                y, W - MR + 28, y, color, dashed ? " stroke-dasharray=\"5,3\"" : "");
    fprintf(f, "<text x=\"%d\" y=\"%.1f\">", W - MR + 34, y + 4);
    rep_text(f, name);
    fputs("</text>\n", f);
}

void rep_line_chart(FILE *f, const rep_chart *c)
{
    axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY, c->logy};
    for (size_t s = 0; s < c->nseries; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (c->logy && y <= 0)) continue;
            double v = c->logy ? log10(y) : y;
            a.x0 = x < a.x0 ? x : a.x0;
            a.x1 = x > a.x1 ? x : a.x1;
            a.y0 = v < a.y0 ? v : a.y0;
            a.y1 = v > a.y1 ? v : a.y1;
        }
    if (c->ymin < c->ymax) a.y0 = c->logy ? log10(c->ymin) : c->ymin, a.y1 = c->logy ? log10(c->ymax) : c->ymax;
    if (!(a.x0 < a.x1)) a.x0 -= 0.5, a.x1 += 0.5;
    if (!(a.y0 < a.y1)) a.y0 -= 0.5, a.y1 += 0.5;
    if (c->logy) a.y0 = floor(a.y0), a.y1 = ceil(a.y1);
    frame(f, c->title, c->xlabel, c->ylabel);
    ticks(f, &a);
    for (size_t s = 0; s < c->nseries; s++) {
        const rep_series *r = &c->series[s];
        const char *color = palette[s % 10];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                r->dashed ? " stroke-dasharray=\"5,3\"" : "");
        for (size_t i = 0; i < r->n; i++) {
            if (!isfinite(r->y[i]) || (c->logy && r->y[i] <= 0)) continue;
            fprintf(f, "%.1f,%.1f ", px(&a, r->x[i]), py(&a, r->y[i]));
        }
        fputs("\"/>\n", f);
        for (size_t i = 0; i < r->n && r->n <= 30; i++)
            if (isfinite(r->y[i]) && !(c->logy && r->y[i] <= 0))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>", px(&a, r->x[i]),
                        py(&a, r->y[i]), r->n == 1 ? "5" : "2.5", color);
        legend(f, s, r->name, color, r->dashed, r->n == 1); /* a lone point: a dot in the legend */
    }
    fputs("</svg>\n", f);
}

void rep_scatter(FILE *f, const char *title, const char *xlabel, const char *ylabel, const double *x,
                 const double *y, const size_t *cls, size_t n)
{
    axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0};
    for (size_t i = 0; i < n; i++) {
        a.x0 = x[i] < a.x0 ? x[i] : a.x0;
        a.x1 = x[i] > a.x1 ? x[i] : a.x1;
        a.y0 = y[i] < a.y0 ? y[i] : a.y0;
        a.y1 = y[i] > a.y1 ? y[i] : a.y1;
    }
    double mx = 0.03 * (a.x1 - a.x0), my = 0.03 * (a.y1 - a.y0);
    a.x0 -= mx, a.x1 += mx, a.y0 -= my, a.y1 += my;
    frame(f, title, xlabel, ylabel);
    ticks(f, &a);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%s\" fill-opacity=\"0.7\"/>", px(&a, x[i]),
                py(&a, y[i]), palette[cls[i] % 10]);
    fputc('\n', f);
    for (size_t k = 0; k < 10; k++) {
        char name[16];
        snprintf(name, sizeof name, "digit %zu", k);
        legend(f, k, name, palette[k], 0, 1);
    }
    fputs("</svg>\n", f);
}
