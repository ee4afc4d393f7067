/* test_watch.c - the model of `tocsin watch` (tools/watch.h): incidents from revisions,
 * the cascade tree from explain paths, countdowns, seq gaps, and hostile bodies. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/watch.c"

#define S 1000000LL
#define T0 1795669200000000LL /* 2026-11-26T05:00:00Z */

/* ---- bodies written as JSON, sent as MessagePack ------------------------------- */

static void pack_json(msgpack_packer *pk, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach((json_t *)v, k, x) {
			msgpack_pack_str(pk, strlen(k));
			msgpack_pack_str_body(pk, k, strlen(k));
			pack_json(pk, x);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, x)
			pack_json(pk, x);
		break;
	case JSON_STRING:
		msgpack_pack_str(pk, json_string_length(v));
		msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(v));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	default:
		msgpack_pack_nil(pk);
	}
}

static msgpack_zone zone;
static msgpack_sbuffer sbuf;

/* The object of a JSON text, as the console would unpack it from the wire. */
static msgpack_object mp(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	msgpack_packer pk;
	msgpack_object o;

	ck_assert_msg(j != NULL, "bad test json: %s: %s", e.text, text);
	msgpack_sbuffer_clear(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	pack_json(&pk, j);
	json_decref(j);
	ck_assert_int_eq(tn__watch_unpack(sbuf.data, sbuf.size, 100000, &zone, &o), 0);
	return o;
}

static void setup(void)
{
	msgpack_zone_init(&zone, 4096);
	msgpack_sbuffer_init(&sbuf);
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sbuf);
}

/* The substation fire, cut down: R failed, A because of R, B because of A, C
 * because of R through X (not failed), D at risk. */
static const char *fire(int seq, int rev, const char *msg, int prio)
{
	static char buf[4096];

	snprintf(buf, sizeof buf,
		 "{\"seq\":%d,\"incident\":\"INC-00000000000000f1\",\"rev\":%d,\"msg\":\"%s\","
		 "\"status\":\"actual\",\"priority\":%d,\"title\":\"energy R failure\","
		 "\"cause\":\"observed\",\"confidence\":1.0,"
		 "\"root\":{\"asset\":\"R\",\"sector\":\"energy\",\"time\":\"2026-11-26T05:00:00.000Z\"},"
		 "\"sectors\":[\"energy\",\"health\"],"
		 "\"affected\":["
		 "{\"asset\":\"R\",\"sector\":\"energy\",\"state\":\"down\",\"time\":\"2026-11-26T05:00:00.000Z\"},"
		 "{\"asset\":\"A\",\"sector\":\"energy\",\"state\":\"down\",\"time\":\"2026-11-26T05:00:01.000Z\"},"
		 "{\"asset\":\"B\",\"sector\":\"health\",\"state\":\"down\",\"time\":\"2026-11-26T05:00:09.000Z\"},"
		 "{\"asset\":\"C\",\"sector\":\"energy\",\"state\":\"degraded\",\"time\":\"2026-11-26T05:00:02.000Z\"}],"
		 "\"at_risk\":["
		 "{\"asset\":\"E\",\"sector\":\"water\",\"eta\":\"2026-11-26T05:00:30.000Z\","
		 "\"eta_latest\":\"2026-11-26T05:00:40.000Z\",\"via\":\"A\",\"outcome\":\"borne_out\"},"
		 "{\"asset\":\"D\",\"sector\":\"health\",\"eta\":\"2026-11-26T05:10:00.000Z\","
		 "\"eta_latest\":\"2026-11-26T05:20:00.000Z\",\"via\":\"A\",\"outcome\":\"pending\"}],"
		 "\"at_risk_count\":{\"pending\":40,\"borne_out\":1,\"not_borne_out\":0},"
		 "\"area\":\"ALD-E\",\"opened\":\"2026-11-26T05:00:00.000Z\","
		 "\"updated\":\"2026-11-26T05:00:09.000Z\","
		 "\"explain\":["
		 "{\"asset\":\"R\",\"path\":[\"R\"],\"window\":[\"2026-11-26T05:00:00.000Z\",\"2026-11-26T05:00:00.000Z\"],\"rule\":\"root\"},"
		 "{\"asset\":\"A\",\"path\":[\"R\",\"A\"],\"window\":[\"2026-11-26T05:00:00.000Z\",\"2026-11-26T05:00:31.000Z\"],\"rule\":\"cascade\"},"
		 "{\"asset\":\"B\",\"path\":[\"R\",\"A\",\"B\"],\"window\":[\"2026-11-26T05:00:01.000Z\",\"2026-11-26T05:01:00.000Z\"],\"rule\":\"cascade\"},"
		 "{\"asset\":\"C\",\"path\":[\"R\",\"X\",\"C\"],\"window\":[\"2026-11-26T05:00:00.000Z\",\"2026-11-26T05:02:00.000Z\"],\"rule\":\"cascade\"}]}",
		 seq, rev, msg, prio);
	return buf;
}

START_TEST(times_and_countdowns)
{
	int64_t us;
	char b[64];

	/* the body's times, as common/cap.c reads them */
	ck_assert_int_eq(tn__cap_parse_time("2026-11-26T05:00:00.000Z", &us), 0);
	ck_assert_int_eq(us, T0);
	tn__watch_dur(b, sizeof b, 42 * S);
	ck_assert_str_eq(b, "42s");
	tn__watch_dur(b, sizeof b, 245 * S);
	ck_assert_str_eq(b, "4m05s");
	tn__watch_dur(b, sizeof b, 7620 * S);
	ck_assert_str_eq(b, "2h07m");
	tn__watch_dur(b, sizeof b, TN__WATCH_NO_TIME);
	ck_assert_str_eq(b, "?");
	tn__watch_countdown(b, sizeof b, T0 + 245 * S, T0 + 300 * S, T0);
	ck_assert_str_eq(b, "in 4m05s");
	tn__watch_countdown(b, sizeof b, T0, T0 + 120 * S, T0 + 1 * S);
	ck_assert_str_eq(b, "due (<= 1m59s)");
	tn__watch_countdown(b, sizeof b, T0, T0 + 120 * S, T0 + 150 * S);
	ck_assert_str_eq(b, "overdue 30s");
	tn__watch_countdown(b, sizeof b, TN__WATCH_NO_TIME, T0, T0);
	ck_assert_str_eq(b, "?");
	tn__watch_countdown(b, 4, T0 + 245 * S, T0, T0); /* bounded */
	ck_assert_str_eq(b, "in ");
}
END_TEST

START_TEST(cascade_tree_from_explain)
{
	struct tn__watch w;
	msgpack_object o = mp(fire(1, 1, "alert", 1));
	struct tn__watch_inc *in;

	tn__watch_init(&w);
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	ck_assert_uint_eq(w.n, 1);
	ck_assert_uint_eq(w.last_seq, 1);
	in = w.inc[0];
	ck_assert_str_eq(in->id, "INC-00000000000000f1");
	ck_assert_int_eq(in->priority, 1);
	ck_assert_str_eq(in->root, "R");
	ck_assert_str_eq(in->sectors, "energy,health");
	ck_assert_int_eq(in->opened_us, T0);
	/* R is the root line; A under it, B under A, C under R (through X) */
	ck_assert_int_eq(in->root_node, 0);
	ck_assert_uint_eq(in->n_order, 3);
	ck_assert_str_eq(in->node[in->order[0]].asset, "A");
	ck_assert_int_eq(in->node[in->order[0]].depth, 1);
	ck_assert_str_eq(in->node[in->order[1]].asset, "B");
	ck_assert_int_eq(in->node[in->order[1]].depth, 2);
	ck_assert_str_eq(in->node[in->order[2]].asset, "C");
	ck_assert_int_eq(in->node[in->order[2]].depth, 1);
	ck_assert_str_eq(in->node[3].path, "R > X > C");
	ck_assert_str_eq(in->node[3].rule, "cascade");
	ck_assert_int_eq(in->node[3].lo_us, T0);
	ck_assert_int_eq(in->node[3].hi_us, T0 + 120 * S);
	/* pending first */
	ck_assert_uint_eq(in->n_risk, 2);
	ck_assert_uint_eq(in->n_pending, 1);
	ck_assert_uint_eq(in->n_pending_all, 40); /* the server listed 2 of 41 */
	ck_assert_str_eq(in->risk[0].asset, "D");
	ck_assert(in->risk[0].pending);
	ck_assert_int_eq(in->risk[0].eta_us, T0 + 600 * S);
	tn__watch_free(&w);
}
END_TEST

START_TEST(inferred_root_is_not_a_member)
{
	struct tn__watch w;
	msgpack_object o = mp(
	    "{\"seq\":1,\"incident\":\"INC-2\",\"rev\":1,\"msg\":\"alert\",\"priority\":3,"
	    "\"cause\":\"inferred\",\"root\":{\"asset\":\"P\"},"
	    "\"affected\":[{\"asset\":\"A\"},{\"asset\":\"B\"}],"
	    "\"explain\":[{\"asset\":\"B\",\"path\":[\"P\",\"B\"]},"
	    "{\"asset\":\"A\",\"path\":[\"P\",\"A\"]}]}");

	tn__watch_init(&w);
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	ck_assert_int_eq(w.inc[0]->root_node, -1);
	ck_assert_uint_eq(w.inc[0]->n_order, 2);
	ck_assert_str_eq(w.inc[0]->node[w.inc[0]->order[0]].asset, "A");
	ck_assert_str_eq(w.inc[0]->node[w.inc[0]->order[1]].asset, "B");
	ck_assert_int_eq(w.inc[0]->opened_us, TN__WATCH_NO_TIME);
	tn__watch_free(&w);
}
END_TEST

START_TEST(seq_gaps_and_since)
{
	struct tn__watch w;
	struct tn__watch_since r;
	msgpack_object o;
	uint64_t seq;

	tn__watch_init(&w);
	w.last_seq = 5;
	o = mp("{\"seq\":6}");
	ck_assert_int_eq(tn__watch_seq(&w, &o, &seq), TN__WATCH_NEXT);
	o = mp("{\"seq\":5}");
	ck_assert_int_eq(tn__watch_seq(&w, &o, &seq), TN__WATCH_DUP);
	o = mp("{\"seq\":9}");
	ck_assert_int_eq(tn__watch_seq(&w, &o, &seq), TN__WATCH_GAP);
	ck_assert_uint_eq(seq, 9);
	o = mp("{\"seq\":\"9\"}");
	ck_assert_int_eq(tn__watch_seq(&w, &o, &seq), TN__WATCH_BAD);
	o = mp("[1]");
	ck_assert_int_eq(tn__watch_seq(&w, &o, &seq), TN__WATCH_BAD);

	/* 6 and 8 come, 7 is lost: gapless */
	o = mp("{\"ok\":true,\"op\":\"since\",\"last\":8,\"more\":false,\"lost\":[[7,7]],"
	       "\"alerts\":[{\"seq\":5,\"incident\":\"INC-1\",\"rev\":1,\"msg\":\"alert\"},"
	       "{\"seq\":6,\"incident\":\"INC-1\",\"rev\":2,\"msg\":\"update\"},"
	       "{\"seq\":8,\"incident\":\"INC-1\",\"rev\":3,\"msg\":\"update\"}]}");
	ck_assert_int_eq(tn__watch_since(&w, &o, T0, &r), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.first, 6);
	ck_assert_uint_eq(r.last_applied, 8);
	ck_assert_uint_eq(r.lost, 1);
	ck_assert(r.gapless);
	ck_assert(!r.more);
	ck_assert_uint_eq(w.last_seq, 8);
	ck_assert_uint_eq(w.inc[0]->rev, 3);
	/* lost at the end, and a hostile range: skipped, counted */
	o = mp("{\"ok\":true,\"op\":\"since\",\"last\":5000000009,\"more\":false,"
	       "\"lost\":[[\"x\"],[9,5000000009],[1,2]],\"alerts\":[]}");
	w.last_seq = 8;
	ck_assert_int_eq(tn__watch_since(&w, &o, T0, &r), 0);
	ck_assert(r.gapless);
	ck_assert_uint_eq(r.lost, 5000000001ULL);
	ck_assert_uint_eq(w.last_seq, 5000000009ULL);
	w.last_seq = 8;
	/* 10 without 9: not gapless */
	o = mp("{\"ok\":true,\"op\":\"since\",\"last\":10,\"more\":false,\"lost\":[],"
	       "\"alerts\":[{\"seq\":10,\"incident\":\"INC-1\",\"rev\":4,\"msg\":\"update\"}]}");
	ck_assert_int_eq(tn__watch_since(&w, &o, T0, &r), 0);
	ck_assert(!r.gapless);
	ck_assert_uint_eq(w.last_seq, 10);
	/* an error reply, a reply to something else */
	o = mp("{\"ok\":false,\"op\":\"since\",\"code\":\"E_UNAVAILABLE\",\"msg\":\"retry\"}");
	ck_assert_int_eq(tn__watch_since(&w, &o, T0, &r), TN_ESCHEMA);
	o = mp("{\"ok\":true,\"op\":\"ack\",\"alerts\":[]}");
	ck_assert_int_eq(tn__watch_since(&w, &o, T0, &r), TN_ESCHEMA);
	ck_assert_uint_eq(w.last_seq, 10);
	tn__watch_free(&w);
}
END_TEST

START_TEST(snapshot_sorts_and_states)
{
	struct tn__watch w;
	msgpack_object o;
	char code[16], msg[64];

	tn__watch_init(&w);
	o = mp("{\"ok\":true,\"op\":\"snapshot\",\"last\":41,\"open\":3,\"incidents\":["
	       "{\"seq\":30,\"incident\":\"INC-c\",\"rev\":2,\"msg\":\"update\",\"priority\":3,"
	       "\"opened\":\"2026-11-26T05:00:00.000Z\"},"
	       "{\"seq\":40,\"incident\":\"INC-b\",\"rev\":1,\"msg\":\"alert\",\"priority\":1,"
	       "\"opened\":\"2026-11-26T05:00:09.000Z\"},"
	       "{\"seq\":41,\"incident\":\"INC-a\",\"rev\":4,\"msg\":\"update\",\"priority\":1,"
	       "\"opened\":\"2026-11-26T05:00:01.000Z\"}],"
	       "\"acked\":{\"INC-a\":3,\"INC-zz\":1},\"escalated\":{\"INC-c\":2}}");
	ck_assert_int_eq(tn__watch_snapshot(&w, &o, T0), 0);
	ck_assert_uint_eq(w.last_seq, 41);
	ck_assert_uint_eq(w.n, 3);
	ck_assert_str_eq(w.inc[0]->id, "INC-a"); /* P1, older */
	ck_assert_str_eq(w.inc[1]->id, "INC-b");
	ck_assert_str_eq(w.inc[2]->id, "INC-c");
	ck_assert_uint_eq(w.inc[0]->acked, 3);
	ck_assert_uint_eq(w.inc[2]->esc_level, 2);
	/* an escalation raises the level; an ack stops it */
	o = mp("{\"incident\":\"INC-b\",\"rev\":1,\"priority\":1,\"level\":3}");
	ck_assert_int_eq(tn__watch_escalation(&w, &o, T0), 0);
	ck_assert_uint_eq(tn__watch_find(&w, "INC-b")->esc_level, 3);
	tn__watch_acked(&w, "INC-b", 1);
	ck_assert_uint_eq(tn__watch_find(&w, "INC-b")->esc_level, 0);
	ck_assert_uint_eq(tn__watch_find(&w, "INC-b")->acked, 1);
	/* an escalation's alert is taken, its seq is not ours */
	o = mp("{\"incident\":\"INC-c\",\"level\":3,\"alert\":{\"seq\":99,\"incident\":\"INC-c\","
	       "\"rev\":3,\"msg\":\"update\",\"priority\":2}}");
	ck_assert_int_eq(tn__watch_escalation(&w, &o, T0), 0);
	ck_assert_uint_eq(w.last_seq, 41);
	ck_assert_uint_eq(tn__watch_find(&w, "INC-c")->rev, 3);
	ck_assert_uint_eq(tn__watch_find(&w, "INC-c")->esc_level, 3);
	/* a bad snapshot leaves the table alone */
	o = mp("{\"ok\":true,\"op\":\"snapshot\",\"incidents\":[]}");
	ck_assert_int_eq(tn__watch_snapshot(&w, &o, T0), TN_ESCHEMA);
	ck_assert_uint_eq(w.n, 3);
	/* reply heads */
	o = mp("{\"ok\":false,\"op\":\"ack\",\"code\":\"E_UNKNOWN\",\"msg\":\"incident INC-x is "
	       "not open\"}");
	ck_assert(!tn__watch_reply(&o, code, sizeof code, msg, sizeof msg));
	ck_assert_str_eq(code, "E_UNKNOWN");
	ck_assert_str_eq(msg, "incident INC-x is not open");
	o = mp("{\"ok\":false}");
	ck_assert(!tn__watch_reply(&o, code, sizeof code, msg, sizeof msg));
	ck_assert_str_eq(code, "?");
	o = mp("{\"ok\":true,\"op\":\"ack\"}");
	ck_assert(tn__watch_reply(&o, code, sizeof code, msg, sizeof msg));
	tn__watch_free(&w);
}
END_TEST

START_TEST(resolved_and_merged_fade_out)
{
	struct tn__watch w;
	msgpack_object o;

	tn__watch_init(&w);
	o = mp(fire(1, 1, "alert", 2));
	tn__watch_apply(&w, &o, T0);
	o = mp("{\"seq\":2,\"incident\":\"INC-m\",\"rev\":1,\"msg\":\"alert\",\"priority\":1}");
	tn__watch_apply(&w, &o, T0);
	o = mp(fire(3, 2, "resolved", 2));
	tn__watch_apply(&w, &o, T0 + S);
	o = mp("{\"seq\":4,\"incident\":\"INC-m\",\"rev\":2,\"msg\":\"merged\",\"priority\":1,"
	       "\"merged_into\":\"INC-00000000000000f1\"}");
	tn__watch_apply(&w, &o, T0 + 2 * S);
	/* a stale revision changes nothing */
	o = mp(fire(1, 1, "alert", 2));
	tn__watch_apply(&w, &o, T0 + 2 * S);
	ck_assert_uint_eq(w.st.stale, 1);
	tn__watch_expire(&w, T0 + 3 * S);
	ck_assert_uint_eq(w.n, 2);
	ck_assert(w.inc[0]->closed && w.inc[1]->closed);
	ck_assert_str_eq(tn__watch_find(&w, "INC-m")->merged_into, "INC-00000000000000f1");
	tn__watch_expire(&w, T0 + 6 * S);
	ck_assert_uint_eq(w.n, 1);
	ck_assert_str_eq(w.inc[0]->id, "INC-m");
	tn__watch_expire(&w, T0 + 7 * S);
	ck_assert_uint_eq(w.n, 0);
	/* resolved without ever being seen open: not shown */
	o = mp("{\"seq\":5,\"incident\":\"INC-r\",\"rev\":3,\"msg\":\"resolved\"}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_uint_eq(w.last_seq, 5);
	tn__watch_free(&w);
}
END_TEST

START_TEST(hostile_bodies)
{
	struct tn__watch w;
	msgpack_object o;
	struct tn__watch_inc *in;
	static const unsigned char garbage[] = {0xc1, 0x00};
	static const unsigned char huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	char big[70000];
	size_t off;

	tn__watch_init(&w);
	ck_assert_int_eq(tn__watch_unpack(garbage, sizeof garbage, 1000, &zone, &o), TN_EDECODE);
	ck_assert_int_eq(tn__watch_unpack(huge_map, sizeof huge_map, 1000, &zone, &o),
			 TN_EDECODE);
	ck_assert_int_eq(tn__watch_unpack("", 0, 1000, &zone, &o), TN_EDECODE);
	/* no id, no rev, not a map */
	o = mp("{\"seq\":1,\"rev\":1}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), TN_ESCHEMA);
	o = mp("{\"seq\":2,\"incident\":\"INC-1\",\"rev\":0}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), TN_ESCHEMA);
	o = mp("[\"incident\",1]");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), TN_ESCHEMA);
	ck_assert_uint_eq(w.st.bad, 3);
	/* every field of the wrong type; control characters and non-ASCII */
	o = mp("{\"seq\":-3,\"incident\":\"INC-\\u001b[2J\\u00e9\",\"rev\":7,\"msg\":5,"
	       "\"priority\":9,\"title\":[1],\"cause\":{},\"confidence\":7.5,\"root\":\"R\","
	       "\"sectors\":\"energy\",\"affected\":[5,{\"asset\":3},{\"asset\":\"A\"},"
	       "{\"asset\":\"A\"},{\"asset\":\"B\",\"time\":\"yesterday\"}],"
	       "\"at_risk\":[{\"eta\":12}],\"opened\":12,"
	       "\"explain\":[{\"asset\":\"A\",\"path\":[\"B\",\"A\"],\"window\":[1]},"
	       "{\"asset\":\"B\",\"path\":[\"A\",7,\"B\"],\"window\":\"x\"}]}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	in = w.inc[0];
	ck_assert_str_eq(in->id, "INC-?[2J??");
	ck_assert_int_eq(in->priority, 0);
	ck_assert_str_eq(in->msg, "");
	ck_assert_str_eq(in->title, "");
	ck_assert(in->confidence < 0);
	ck_assert_str_eq(in->root, "");
	ck_assert_uint_eq(in->n_node, 2); /* A once, B; the nameless left out */
	ck_assert_uint_eq(in->n_order, 2); /* A and B each other's parent: both shown */
	ck_assert_int_eq(in->node[1].t_us, TN__WATCH_NO_TIME);
	ck_assert_int_eq(in->node[0].lo_us, TN__WATCH_NO_TIME);
	ck_assert_uint_eq(in->n_risk, 1);
	ck_assert_int_eq(in->risk[0].eta_us, TN__WATCH_NO_TIME);
	ck_assert_uint_eq(in->n_pending_all, 1); /* no count: what is listed */
	ck_assert_int_eq(in->opened_us, TN__WATCH_NO_TIME);
	ck_assert_uint_eq(w.last_seq, 2); /* the seq of a bad body is processed all the same */
	/* long strings are cut, long paths end in "..." */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	{
		char *j = malloc(sizeof big * 20 + 256);
		off = (size_t)sprintf(j, "{\"seq\":3,\"incident\":\"INC-%s\",\"rev\":1,\"title\":"
					 "\"%s\",\"affected\":[{\"asset\":\"Z\"}],\"explain\":"
					 "[{\"asset\":\"Z\",\"path\":[",
				      big, big);
		for (int i = 0; i < 10; i++)
			off += (size_t)sprintf(j + off, "\"%.50s\",", big);
		sprintf(j + off, "\"Z\"]}]}");
		o = mp(j);
		free(j);
	}
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	in = tn__watch_find(&w, w.inc[1]->id);
	ck_assert_uint_eq(strlen(in->id), TN__WATCH_ID - 1);
	ck_assert_uint_eq(strlen(in->title), TN__WATCH_TITLE - 1);
	ck_assert_uint_eq(strlen(in->node[0].path), TN__WATCH_PATH - 1);
	ck_assert_str_eq(in->node[0].path + TN__WATCH_PATH - 4, "...");
	tn__watch_free(&w);
}
END_TEST

/* Bodies of the lower clearances' streams (docs/control-rooms.md, "Need to
 * know"): a public one has no asset anywhere, an official one may lack
 * explanations and vias. The console shows what there is. */
START_TEST(redacted_bodies)
{
	struct tn__watch w;
	msgpack_object o;
	struct tn__watch_inc *in;

	tn__watch_init(&w);
	o = mp("{\"seq\":1,\"incident\":\"INC-00000000000000aa\",\"rev\":1,\"msg\":\"alert\","
	       "\"status\":\"actual\",\"priority\":1,"
	       "\"title\":\"energy incident in area ALD-E: 2 affected in 2 sectors\","
	       "\"cause\":\"observed\",\"confidence\":1.0,"
	       "\"root\":{\"sector\":\"energy\",\"time\":\"2026-11-26T05:00:00.000Z\"},"
	       "\"sectors\":[\"energy\",\"health\"],"
	       "\"affected\":[{\"sector\":\"energy\",\"state\":\"down\","
	       "\"time\":\"2026-11-26T05:00:00.000Z\"},{\"sector\":\"health\",\"state\":\"down\","
	       "\"time\":\"2026-11-26T05:00:05.000Z\"}],"
	       "\"at_risk\":[{\"sector\":\"water\",\"eta\":\"2026-11-26T05:10:00.000Z\","
	       "\"eta_latest\":\"2026-11-26T05:15:00.000Z\",\"outcome\":\"pending\"}],"
	       "\"at_risk_count\":{\"pending\":1,\"borne_out\":0,\"not_borne_out\":0},"
	       "\"area\":\"ALD-E\",\"opened\":\"2026-11-26T05:00:00.000Z\","
	       "\"updated\":\"2026-11-26T05:00:05.000Z\"}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	in = tn__watch_find(&w, "INC-00000000000000aa");
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(in->priority, 1);
	ck_assert_str_eq(in->title, "energy incident in area ALD-E: 2 affected in 2 sectors");
	ck_assert_str_eq(in->root, "");
	ck_assert_str_eq(in->root_sector, "energy");
	ck_assert_uint_eq(in->n_node, 0); /* members without a name are not drawn */
	ck_assert_uint_eq(in->n_pending_all, 1);
	/* official: members without explanations hang under the root line */
	o = mp("{\"seq\":2,\"incident\":\"INC-00000000000000bb\",\"rev\":1,\"priority\":2,"
	       "\"root\":{\"asset\":\"R\",\"sector\":\"energy\"},"
	       "\"affected\":[{\"asset\":\"R\",\"state\":\"down\"},{\"asset\":\"A\","
	       "\"state\":\"down\"}],\"at_risk\":[{\"asset\":\"P\",\"eta\":"
	       "\"2026-11-26T05:10:00.000Z\"}],\"explain\":[]}");
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	in = tn__watch_find(&w, "INC-00000000000000bb");
	ck_assert_uint_eq(in->n_node, 2);
	ck_assert_uint_eq(in->n_risk, 1);
	ck_assert_str_eq(in->risk[0].via, "");
	tn__watch_free(&w);
}
END_TEST

START_TEST(lists_are_capped_and_counted)
{
	struct tn__watch w;
	msgpack_object o;
	size_t cap = 64 + (TN__WATCH_MAX_NODES + 10) * 40, off;
	char *j = malloc(cap);

	tn__watch_init(&w);
	off = (size_t)snprintf(j, cap, "{\"seq\":1,\"incident\":\"INC-big\",\"rev\":1,\"affected\":[");
	for (int i = 0; i < TN__WATCH_MAX_NODES + 10; i++)
		off += (size_t)snprintf(j + off, cap - off, "%s{\"asset\":\"M%d\"}", i ? "," : "", i);
	snprintf(j + off, cap - off, "]}");
	o = mp(j);
	free(j);
	ck_assert_int_eq(tn__watch_apply(&w, &o, T0), 0);
	ck_assert_uint_eq(w.inc[0]->n_node, TN__WATCH_MAX_NODES);
	ck_assert_uint_eq(w.inc[0]->n_node_total, TN__WATCH_MAX_NODES + 10);
	ck_assert_uint_eq(w.st.truncated, 10);
	tn__watch_free(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("model");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, times_and_countdowns);
	tcase_add_test(tc, cascade_tree_from_explain);
	tcase_add_test(tc, inferred_root_is_not_a_member);
	tcase_add_test(tc, seq_gaps_and_since);
	tcase_add_test(tc, snapshot_sorts_and_states);
	tcase_add_test(tc, resolved_and_merged_fade_out);
	tcase_add_test(tc, hostile_bodies);
	tcase_add_test(tc, redacted_bodies);
	tcase_add_test(tc, lists_are_capped_and_counted);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
