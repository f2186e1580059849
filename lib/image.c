/*
 * image.c: image probing (the format and size of a picture from its first
 * bytes), then the pictures dalle-serve hands out.  A hash of the prompt picks
 * a palette, a sky gradient, a sun and a few ranges of hills, so that every
 * prompt gets its own recognisable landscape.  Encoded as PNG with libpng
 * or JPEG with libjpeg, in memory.
 */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "dalle.h"

/* ---- probing ---------------------------------------------------------- */

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned long
be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
}

const char *
dalle_image_probe(const void *buf, size_t n, int *w, int *h)
{
	const unsigned char *p = buf;
	size_t i;

	*w = *h = 0;
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
		if (memcmp(p + 12, "IHDR", 4) == 0) {
			*w = (int)be32(p + 16);
			*h = (int)be32(p + 20);
		}
		return "png";
	}
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		/* Walk the segments to the first start-of-frame marker. */
		for (i = 2; i + 9 < n; ) {
			unsigned m;

			if (p[i] != 0xff)
				break;
			m = p[i + 1];
			if (m == 0xff) {
				i++;
				continue;
			}
			if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
			    m != 0xcc) {
				*h = (int)be16(p + i + 5);
				*w = (int)be16(p + i + 7);
				break;
			}
			if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
				i += 2;
				continue;
			}
			i += 2 + be16(p + i + 2);
		}
		return "jpeg";
	}
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return "webp";
	if (n >= 10 && memcmp(p, "GIF8", 4) == 0) {
		*w = p[6] | p[7] << 8;
		*h = p[8] | p[9] << 8;
		return "gif";
	}
	return NULL;
}

/* ---- painting --------------------------------------------------------- */

#define LAYERS 4

struct scene {
	unsigned char top[3], bottom[3], sun[3], hill[LAYERS][3];
	double sunx, suny, sunr;
	int layers;
};

static double
unit(uint64_t *s)
{
	return (double)(dalle_rand(s) >> 11) / 9007199254740992.0;
}

static void
hsv(double h, double s, double v, unsigned char out[3])
{
	double f, p, q, t, r, g, b;
	int i;

	h = fmod(h, 1.0) * 6.0;
	i = (int)h;
	f = h - i;
	p = v * (1 - s);
	q = v * (1 - s * f);
	t = v * (1 - s * (1 - f));
	switch (i) {
	case 0: r = v; g = t; b = p; break;
	case 1: r = q; g = v; b = p; break;
	case 2: r = p; g = v; b = t; break;
	case 3: r = p; g = q; b = v; break;
	case 4: r = t; g = p; b = v; break;
	default: r = v; g = p; b = q; break;
	}
	out[0] = (unsigned char)(r * 255 + 0.5);
	out[1] = (unsigned char)(g * 255 + 0.5);
	out[2] = (unsigned char)(b * 255 + 0.5);
}

static void
scene_make(const char *prompt, struct scene *sc, double *phase,
    double *freq, double *amp, double *base)
{
	uint64_t s;
	double hue, d;
	int i;

	s = dalle_hash(prompt, strlen(prompt), 0x5eed);
	hue = unit(&s);
	hsv(hue, 0.35 + 0.3 * unit(&s), 0.95, sc->top);
	hsv(hue + 0.08 + 0.1 * unit(&s), 0.55 + 0.3 * unit(&s), 0.75,
	    sc->bottom);
	hsv(0.08 + 0.08 * unit(&s), 0.45, 1.0, sc->sun);
	sc->sunx = 0.2 + 0.6 * unit(&s);
	sc->suny = 0.15 + 0.3 * unit(&s);
	sc->sunr = 0.06 + 0.1 * unit(&s);
	sc->layers = 2 + (int)(dalle_rand(&s) % (LAYERS - 1));
	for (i = 0; i < sc->layers; i++) {
		d = (double)(i + 1) / sc->layers;
		hsv(hue + 0.25 + 0.2 * unit(&s), 0.45 + 0.3 * d,
		    0.8 - 0.55 * d, sc->hill[i]);
		phase[i] = 6.2832 * unit(&s);
		freq[i] = 1.5 + 5.0 * unit(&s);
		amp[i] = 0.03 + 0.08 * unit(&s);
		base[i] = 0.5 + 0.4 * d;
	}
}

/* Fill rows of w pixels with ch channels (3, or 4 for alpha). */
static unsigned char *
paint(const char *prompt, int w, int h, int ch)
{
	struct scene sc;
	double phase[LAYERS], freq[LAYERS], amp[LAYERS], base[LAYERS];
	double t, dx, dy, r2, edge;
	unsigned char *img, *p;
	int *top, x, y, i, k, covered;

	scene_make(prompt, &sc, phase, freq, amp, base);
	img = dalle_xmalloc((size_t)w * h * ch);
	top = dalle_xmalloc(sizeof(int) * (size_t)w * sc.layers);
	for (i = 0; i < sc.layers; i++)
		for (x = 0; x < w; x++) {
			t = (double)x / w;
			top[i * w + x] = (int)(h * (base[i] - amp[i] *
			    (sin(freq[i] * t * 6.2832 + phase[i]) + 0.4 *
			    sin(freq[i] * 2.7 * t * 6.2832 +
			    phase[i] * 1.3))));
		}
	edge = sc.sunr * (w < h ? w : h);
	for (y = 0; y < h; y++) {
		t = (double)y / (h > 1 ? h - 1 : 1);
		p = img + (size_t)y * w * ch;
		for (x = 0; x < w; x++, p += ch) {
			covered = 0;
			for (i = sc.layers - 1; i >= 0; i--)
				if (y >= top[i * w + x]) {
					memcpy(p, sc.hill[i], 3);
					covered = 1;
					break;
				}
			if (!covered) {
				dx = x - sc.sunx * w;
				dy = y - sc.suny * h;
				r2 = dx * dx + dy * dy;
				if (r2 <= edge * edge) {
					memcpy(p, sc.sun, 3);
					covered = 1;
				} else {
					for (k = 0; k < 3; k++)
						p[k] = (unsigned char)(
						    sc.top[k] * (1 - t) +
						    sc.bottom[k] * t);
				}
			}
			if (ch == 4)
				p[3] = covered ? 255 : 0;
		}
	}
	free(top);
	return img;
}

static void
png_write_mem(png_structp png, png_bytep data, png_size_t n)
{
	dalle_buf_add(png_get_io_ptr(png), data, n);
}

static void
png_flush_mem(png_structp png)
{
	(void)png;
}

static unsigned char *
encode_png(const unsigned char *img, int w, int h, int ch, size_t *len)
{
	png_structp png;
	png_infop info;
	struct dalle_buf b = { NULL, 0, 0 };
	int y;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
	    NULL);
	if (png == NULL)
		return NULL;
	info = png_create_info_struct(png);
	if (info == NULL || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(b.p);
		return NULL;
	}
	png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
	/* Speed over size: the server renders on request. */
	png_set_compression_level(png, 1);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
	    ch == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < h; y++)
		png_write_row(png,
		    (png_const_bytep)(img + (size_t)y * w * ch));
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	*len = b.len;
	return (unsigned char *)b.p;
}

struct jerr {
	struct jpeg_error_mgr mgr;
	jmp_buf jb;
};

static void
jpeg_fail(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	/* Library code never exits: unwind to encode_jpeg instead. */
	longjmp(e->jb, 1);
}

static unsigned char *
encode_jpeg(const unsigned char *img, int w, int h, int quality,
    size_t *len)
{
	struct jpeg_compress_struct c;
	struct jerr e;
	unsigned char *out = NULL, *ret;
	unsigned long outlen = 0;
	JSAMPROW row;

	c.err = jpeg_std_error(&e.mgr);
	e.mgr.error_exit = jpeg_fail;
	if (setjmp(e.jb)) {
		jpeg_destroy_compress(&c);
		free(out);
		return NULL;
	}
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, &outlen);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality < 1 ? 1 : quality > 100 ? 100 : quality,
	    TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		row = (JSAMPROW)(img + (size_t)c.next_scanline * w * 3);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	/* Hand back memory from our own allocator. */
	ret = dalle_xmalloc(outlen);
	memcpy(ret, out, outlen);
	free(out);
	*len = outlen;
	return ret;
}

unsigned char *
dalle_image_render(const char *prompt, int w, int h, const char *format,
    int quality, int transparent, size_t *len)
{
	unsigned char *img, *out;
	int jpeg, ch;

	if (w < 1 || h < 1 || w > 8192 || h > 8192 || format == NULL)
		return NULL;
	if (strcmp(format, "png") == 0)
		jpeg = 0;
	else if (strcmp(format, "jpeg") == 0 || strcmp(format, "jpg") == 0)
		jpeg = 1;
	else
		return NULL;
	ch = transparent && !jpeg ? 4 : 3;
	img = paint(prompt != NULL ? prompt : "", w, h, ch);
	out = jpeg ? encode_jpeg(img, w, h, quality, len) :
	    encode_png(img, w, h, ch, len);
	free(img);
	return out;
}
