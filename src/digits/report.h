/* nnla-digits' report: a self-contained HTML page with inline SVG charts (report.c). */
#ifndef NNLA_DIGITS_REPORT_H
#define NNLA_DIGITS_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* One line of a chart: n points (x[i], y[i]). */
typedef struct rep_series {
    const char *name;
    const double *x, *y;
    size_t n;
    int dashed;
} rep_series;

/* A line chart: the series, axis labels, and whether y is on a log scale. */
typedef struct rep_chart {
    const char *title, *xlabel, *ylabel;
    const rep_series *series;
    size_t nseries;
    int logy;
    double ymin, ymax; /* fixed y range when ymin < ymax; else from the data */
} rep_chart;

/* Write a line chart as an <svg> element. */
void rep_line_chart(FILE *f, const rep_chart *c);

/* Write a scatter plot of n points (x, y) coloured by their class (0 .. 9) as an <svg> element. */
void rep_scatter(FILE *f, const char *title, const char *xlabel, const char *ylabel, const double *x,
                 const double *y, const size_t *cls, size_t n);

/* Text with &, <, > escaped. */
void rep_text(FILE *f, const char *s);

#endif
