/* SPDX-License-Identifier: MIT */
/*
 * with-libxml2 - libxml2 writes to a FILE* (xmlDocFormatDump) and parses
 * from a descriptor (xmlReadFd): a spool serves both. Builds a document,
 * dumps it into the spool, parses it back from spool_fileno() and checks
 * both the bytes and the parsed tree.
 *
 * Usage: with-libxml2 [ITEMS [THRESHOLD]]   (defaults: 500, 4096 bytes)
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

/* Text with characters that must be escaped, and some UTF-8. */
static void item_text(char *buf, size_t len, long i)
{
	snprintf(buf, len, "item %ld <%ld> & \"caf\xc3\xa9\"", i, i * i);
}

static xmlDocPtr build_doc(long items)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "items");
	char text[128], id[32];

	xmlDocSetRootElement(doc, root);
	for (long i = 0; i < items; i++) {
		xmlNodePtr node;

		item_text(text, sizeof(text), i);
		node =
		    xmlNewTextChild(root, NULL, BAD_CAST "item", BAD_CAST text);
		snprintf(id, sizeof(id), "%ld", i);
		xmlNewProp(node, BAD_CAST "id", BAD_CAST id);
	}
	return doc;
}

/* Walks the parsed tree: every item, in order, with its id and text. */
static int check_doc(xmlDocPtr doc, long items)
{
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNodePtr node;
	char text[128], id[32];
	long i = 0;

	if (root == NULL || xmlStrcmp(root->name, BAD_CAST "items") != 0)
		return 0;
	for (node = root->children; node != NULL; node = node->next) {
		xmlChar *got_id, *got_text;
		int ok;

		if (node->type != XML_ELEMENT_NODE)
			continue;
		item_text(text, sizeof(text), i);
		snprintf(id, sizeof(id), "%ld", i);
		got_id = xmlGetProp(node, BAD_CAST "id");
		got_text = xmlNodeGetContent(node);
		ok = got_id && got_text &&
		     xmlStrcmp(node->name, BAD_CAST "item") == 0 &&
		     xmlStrcmp(got_id, BAD_CAST id) == 0 &&
		     xmlStrcmp(got_text, BAD_CAST text) == 0;
		xmlFree(got_id);
		xmlFree(got_text);
		if (!ok)
			return 0;
		i++;
	}
	return i == items;
}

/* The spool's bytes must be what libxml2 makes of the document in memory. */
static int same_bytes(FILE *fp, xmlDocPtr doc)
{
	xmlChar *want;
	int len, same;
	char *got;

	xmlDocDumpFormatMemory(doc, &want, &len, 1);
	got = malloc((size_t)len + 1);
	rewind(fp);
	same = want && got &&
	       fread(got, 1, (size_t)len + 1, fp) == (size_t)len &&
	       memcmp(got, want, (size_t)len) == 0;
	free(got);
	xmlFree(want);
	return same;
}

/*
 * Parses the spool from its descriptor. A dup()ed descriptor shares the
 * file offset with the spool's own, so the stream's position is saved
 * and set again afterwards: the fseeko() also tells the stream that the
 * offset moved under it.
 */
static xmlDocPtr parse_fd(FILE *fp)
{
	off_t pos = ftello(fp);
	int fd = spool_fileno(fp);
	xmlDocPtr doc;

	if (pos < 0 || fd < 0)
		return NULL;
	fd = dup(fd);
	if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0)
		return NULL;
	doc = xmlReadFd(fd, NULL, NULL, XML_PARSE_NOBLANKS | XML_PARSE_NONET);
	close(fd);
	if (fseeko(fp, pos, SEEK_SET) != 0) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

int main(int argc, char **argv)
{
	long items = argc > 1 ? atol(argv[1]) : 500;
	size_t threshold = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
	FILE *fp = spool_fopen(threshold, "w+");
	xmlDocPtr doc, back;
	int wrote, rolled, bytes_ok, tree_ok;
	off_t size;

	LIBXML_TEST_VERSION
	if (fp == NULL) {
		perror("spool_fopen");
		return 1;
	}
	doc = build_doc(items);
	wrote = xmlDocFormatDump(fp, doc, 1);
	size = spool_size(fp);
	rolled = spool_is_rolled(fp); /* before spool_fileno() forces it */
	bytes_ok = wrote > 0 && size == wrote && same_bytes(fp, doc);
	back = parse_fd(fp);
	tree_ok = check_doc(back, items);
	xmlFreeDoc(back);
	xmlFreeDoc(doc);
	xmlCleanupParser();
	if (fclose(fp) != 0) {
		perror("fclose");
		return 1;
	}
	printf("with-libxml2: dumped %ld items, %lld bytes, %s (threshold %zu);"
	       " bytes %s; parsed back from spool_fileno(): %s\n",
	       items, (long long)size,
	       rolled ? "spilled to disk" : "kept in memory", threshold,
	       bytes_ok ? "identical" : "DIFFER",
	       tree_ok ? "same tree" : "TREE DIFFERS");
	return bytes_ok && tree_ok ? 0 : 1;
}
