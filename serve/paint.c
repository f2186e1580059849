/*
 * paint.c: the pictures dalle-serve hands out.  A hash of the prompt picks
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
#include <zlib.h>

#include "serve.h"

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
paint_scene(const char *prompt, int w, int h, int ch)
{
	struct scene sc;
	double phase[LAYERS], freq[LAYERS], amp[LAYERS], base[LAYERS];
	double t, dx, dy, r2, edge;
	unsigned char *img, *p, sky[3];
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
		for (k = 0; k < 3; k++)
			sky[k] = (unsigned char)(sc.top[k] * (1 - t) +
			    sc.bottom[k] * t);
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
					memcpy(p, sky, 3);
				}
			}
			if (ch == 4)
				p[3] = covered ? 255 : 0;
		}
	}
	free(top);
	return img;
}

/*
 * Grain: the low bits of every colour byte XORed with noise drawn from a
 * seed of the prompt and image index, so a repeat gives the same bytes.
 * level is in 1/256 bits: its integer part k is the noise bits of a row,
 * and its fraction the share of rows, spread evenly, that get k + 1.
 */
static void
grain(unsigned char *img, int w, int h, int ch, unsigned level,
    uint64_t seed)
{
	unsigned char *p, mask;
	size_t x, n = (size_t)w * ch;
	unsigned k, frac = level & 255;
	uint64_t r = 0;
	int y, left;

	for (y = 0; y < h; y++) {
		k = (level >> 8) + ((unsigned)(y + 1) * frac / 256 >
		    (unsigned)y * frac / 256);
		if (k == 0)
			continue;
		mask = (unsigned char)(k >= 8 ? 255 : (1u << k) - 1);
		p = img + (size_t)y * n;
		left = 0;
		for (x = 0; x < n; x++) {
			if (ch == 4 && x % 4 == 3)
				continue;
			if (left == 0) {
				r = dalle_rand(&seed);
				left = 8;
			}
			p[x] ^= (unsigned char)r & mask;
			r >>= 8;
			left--;
		}
	}
}

/*
 * The PNG that encode_png makes of a grainy picture, in thousandths of a
 * bit per colour byte, at levels 0, 0.5, 1, ... 8 bits (measured on
 * 1024x1024 pictures of five prompts, which differ by under 2%).  An
 * alpha byte, left as it is, adds its share to the RGBA row.
 */
static const unsigned short grain_mbits[2][17] = {
	{ 70, 990, 1875, 2480, 2812, 3495, 3818, 4501, 4822, 5496, 5815,
	    6487, 6807, 7472, 7787, 8001, 8017 },
	{ 77, 1199, 2272, 3016, 3392, 4187, 4576, 5288, 5681, 6380, 6763,
	    7453, 7815, 8487, 8836, 9041, 9140 }
};

/* The grain level (1/256 bits) whose PNG is about bytes long: full noise
 * when even that is smaller, none when the flat picture is larger. */
static unsigned
grain_level(int w, int h, int ch, size_t bytes)
{
	const unsigned short *t = grain_mbits[ch == 4];
	double want;
	int i;

	/* Less the signature, the chunks' framing and the row filter
	 * bytes, which the table leaves out. */
	want = 8000.0 * ((double)bytes - 100 - h) / ((double)w * h * 3);
	if (want <= t[0])
		return 0;
	for (i = 0; i < 16; i++)
		if (want < t[i + 1])
			return (unsigned)(128 * i + 128 * (want - t[i]) /
			    (t[i + 1] - t[i]));
	return 8 * 256;
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
encode_png(const unsigned char *img, int w, int h, int ch, int grainy,
    size_t *len)
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
	if (grainy) {
		/* At most the raw rows and a little: no regrowth. */
		b.cap = (size_t)w * h * ch + (size_t)h + 65536;
		b.p = dalle_xmalloc(b.cap);
	}
	if (info == NULL || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(b.p);
		return NULL;
	}
	png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
	/* Speed over size: the server renders on request. */
	png_set_compression_level(png, 1);
	if (grainy) {
		/* Noise left of each byte is as random as its own: Sub
		 * leaves the grain alone, and run-length matches plus
		 * Huffman codes pack it to about its entropy, fast. */
		png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
		png_set_compression_strategy(png, Z_RLE);
	}
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

/*
 * The grainy PNG of img nearest bytes long: the table's guess, then at
 * most two more, each corrected by what the last came to, for pictures
 * (small ones mostly) that the table fits less well.  Grain is an XOR,
 * so painting the same grain again takes it off.
 */
static unsigned char *
encode_grainy(unsigned char *img, int w, int h, int ch, size_t bytes,
    uint64_t seed, size_t *len)
{
	unsigned char *out, *best = NULL;
	unsigned level, last = 0;
	double ask = (double)bytes, err, besterr = 0;
	size_t got;
	int i;

	for (i = 0; i < 3; i++) {
		level = grain_level(w, h, ch, (size_t)ask);
		if (i > 0 && level == last)
			break;
		grain(img, w, h, ch, level, seed);
		out = encode_png(img, w, h, ch, 1, &got);
		grain(img, w, h, ch, level, seed);
		if (out == NULL)
			break;
		err = fabs((double)got / bytes - 1);
		if (best == NULL || err < besterr) {
			free(best);
			best = out;
			besterr = err;
			*len = got;
		} else
			free(out);
		if (err < 0.04)
			break;
		ask = ask * bytes / got;
		last = level;
	}
	return best;
}

struct jerr {
	struct jpeg_error_mgr mgr;
	jmp_buf jb;
};

static void
jpeg_fail(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	/* Unwind to encode_jpeg instead of exiting. */
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
paint_image(const char *prompt, int w, int h, const char *format,
    int quality, int transparent, size_t bytes, size_t *len)
{
	unsigned char *img, *out;
	uint64_t seed;
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
	if (prompt == NULL)
		prompt = "";
	img = paint_scene(prompt, w, h, ch);
	seed = dalle_hash(prompt, strlen(prompt), 0x6a41);
	out = paint_encode_sized(img, w, h, ch, jpeg ? "jpeg" : "png",
	    quality, bytes, seed, len);
	free(img);
	return out;
}

unsigned char *
paint_encode_sized(unsigned char *img, int w, int h, int ch,
    const char *format, int quality, size_t bytes, uint64_t seed,
    size_t *len)
{
	int jpeg = strcmp(format, "jpeg") == 0 || strcmp(format, "jpg") == 0;

	if (bytes == 0)
		return paint_encode(img, w, h, ch, format, quality, len);
	if (!jpeg)
		return strcmp(format, "png") == 0 ?
		    encode_grainy(img, w, h, ch, bytes, seed, len) : NULL;
	/* JPEG takes the grain of the table's first guess. */
	grain(img, w, h, ch, grain_level(w, h, ch, bytes), seed);
	return paint_encode(img, w, h, ch, format, quality, len);
}

unsigned char *
paint_pixels(const char *prompt, int w, int h)
{
	if (w < 1 || h < 1 || w > 8192 || h > 8192)
		return NULL;
	return paint_scene(prompt ? prompt : "", w, h, 3);
}

unsigned char *
paint_encode(const unsigned char *img, int w, int h, int ch,
    const char *format, int quality, size_t *len)
{
	if (strcmp(format, "jpeg") == 0 || strcmp(format, "jpg") == 0)
		return ch == 3 ? encode_jpeg(img, w, h, quality, len) : NULL;
	if (strcmp(format, "png") == 0)
		return encode_png(img, w, h, ch, 0, len);
	return NULL;
}

/* The pixels of a JPEG, 3 channels; NULL if it is none. */
static unsigned char *
decode_jpeg(const unsigned char *p, size_t n, int *w, int *h)
{
	struct jpeg_decompress_struct d;
	struct jerr e;
	unsigned char *volatile img = NULL;
	volatile int ok = 0;
	JSAMPROW row;

	d.err = jpeg_std_error(&e.mgr);
	e.mgr.error_exit = jpeg_fail;
	jpeg_create_decompress(&d);
	if (setjmp(e.jb) == 0) {
		jpeg_mem_src(&d, p, (unsigned long)n);
		jpeg_read_header(&d, TRUE);
		d.out_color_space = JCS_RGB;
		jpeg_start_decompress(&d);
		*w = (int)d.output_width;
		*h = (int)d.output_height;
		img = dalle_xmalloc((size_t)*w * *h * 3);
		while (d.output_scanline < d.output_height) {
			row = img + (size_t)d.output_scanline * *w * 3;
			jpeg_read_scanlines(&d, &row, 1);
		}
		jpeg_finish_decompress(&d);
		ok = 1;
	}
	jpeg_destroy_decompress(&d);
	if (!ok) {
		free(img);
		return NULL;
	}
	return img;
}

unsigned char *
paint_decode(const unsigned char *p, size_t n, int *w, int *h, int *ch)
{
	png_image im;
	unsigned char *img;

	if (n > 3 && p[0] == 0xff && p[1] == 0xd8) {
		*ch = 3;
		return decode_jpeg(p, n, w, h);
	}
	memset(&im, 0, sizeof(im));
	im.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&im, p, n))
		return NULL;
	*ch = im.format & PNG_FORMAT_FLAG_ALPHA ? 4 : 3;
	im.format = *ch == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
	img = dalle_xmalloc(PNG_IMAGE_SIZE(im));
	if (!png_image_finish_read(&im, NULL, img, 0, NULL)) {
		png_image_free(&im);
		free(img);
		return NULL;
	}
	*w = (int)im.width;
	*h = (int)im.height;
	return img;
}
