"""The registry pages: search, filters, masking, access logging, query counts."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from baoxue.core.models import AuditEvent
from baoxue.registry import services
from baoxue.registry.models import Child


def names_in(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'data-testid="child-row">\s*<td><a href="[^"]+">([^<]+)</a>', html)


def search(client, **params):
    response = client.get(reverse("registry:child_list"), params)
    assert response.status_code == 200
    return sorted(names_in(response))


class TestSearch:
    def test_name_prefix(self, world, login):
        assert search(login("office"), q="吴俊") == ["吴俊辉"]
        assert search(login("office"), q="吴 俊辉") == ["吴俊辉"]

    def test_pinyin_initials_find_homophones_within_scope(self, world, login):
        assert search(login("office"), q="wjh") == ["伍军辉", "吴俊辉"]
        assert search(login("office"), q="WJH") == ["伍军辉", "吴俊辉"]
        assert search(login("village_a"), q="wjh") == ["吴俊辉"]
        assert search(login("outsider"), q="wjh") == ["伍军辉"]

    def test_full_pinyin_prefix(self, world, login):
        assert search(login("office"), q="wujun") == ["伍军辉", "吴俊辉"]
        assert search(login("office"), q="longyu") == ["龙雨欣"]

    def test_id_suffix_of_four_and_more_digits(self, world, login):
        number = world.child("吴俊辉").id_number
        client = login("office")
        assert search(client, q=number[-4:]) == ["吴俊辉"]
        assert search(client, q=number[-7:]) == ["吴俊辉"]
        assert search(client, q=number) == ["吴俊辉"]
        assert search(client, q="９" + "０" * 3) == []  # full-width digits are normalised

    def test_fifteen_digit_number_finds_the_upgraded_child(self, world, login):
        child = world.child("伍军辉")
        original = child.id_number_original
        assert len(original) == 15
        assert search(login("office"), q=original) == ["伍军辉"]

    def test_search_never_crosses_scope(self, world, login):
        number = world.child("覃明").id_number
        assert search(login("office"), q=number[-4:]) == []
        assert search(login("office"), q="覃") == []
        assert search(login("county"), q="覃") == ["覃明"]

    def test_filters(self, world, login):
        client = login("office")
        assert search(client, village=world.village_b.pk) == ["伍军辉", "石丽"]
        assert search(client, school=world.school_x.pk) == ["伍军辉", "吴俊辉"]
        assert search(client, school=world.school_x.pk, grade=3) == ["伍军辉", "吴俊辉"]
        assert search(client, grade=8) == ["龙雨欣"]
        assert search(client, tag="disability") == ["龙雨欣"]
        assert search(client, tag="left_behind") == ["石丽"]
        assert search(client, tag="key_group") == ["吴俊辉"]
        assert search(client, tag="id_flagged") == sorted(["石丽", "杨光明"])
        assert search(client, status="not_enrolled") == sorted(["杨光明", "石丽"])

    def test_filter_for_a_village_out_of_scope_is_ignored(self, world, login):
        response = login("village_a").get(
            reverse("registry:child_list"), {"village": world.village_b.pk}
        )
        assert response.status_code == 200
        assert names_in(response) == []  # invalid choice: form refuses, list stays scoped

    def test_htmx_request_returns_only_the_results(self, world, login):
        response = login("office").get(
            reverse("registry:child_list"),
            {"q": "wjh"},
            headers={"HX-Request": "true", "HX-Target": "child-results"},
        )
        html = response.content.decode()
        assert '<nav class="navbar' not in html
        assert sorted(names_in(response)) == ["伍军辉", "吴俊辉"]

    def test_list_query_count_is_fixed(self, world, login, django_assert_num_queries):
        client = login("office")
        client.get(reverse("registry:child_list"))  # warm the session
        # session, user, roles, villages + schools for the filter form, count, page (the
        # session is not rewritten: the warm-up request refreshed its expiry)
        with django_assert_num_queries(7):
            client.get(reverse("registry:child_list"), {"q": "wjh"})


class TestIdNumbers:
    def test_list_shows_masked_numbers_only(self, world, login):
        number = world.child("吴俊辉").id_number
        html = login("office").get(reverse("registry:child_list")).content.decode()
        assert number not in html
        assert f"{number[:6]}************" in html and number[-4:] not in html

    def test_malformed_number_is_kept_and_flagged(self, world, login):
        child = world.child("杨光明")
        assert child.id_status == Child.IdStatus.BAD_CHECKSUM
        assert child.id_number_hash == ""  # never a join key
        html = login("office").get(reverse("registry:child_list"), {"q": "杨光明"}).content
        assert "校验位错误" in html.decode()

    def test_reveal_is_logged_and_shows_the_whole_number(self, world, login):
        child = world.child("吴俊辉")
        response = login("village_a").post(
            reverse("registry:child_reveal_id", args=[child.public_id])
        )
        assert child.id_number in response.content.decode()
        assert AuditEvent.objects.filter(
            action="child.id_revealed", object_id=str(child.public_id), actor__username="village_a"
        ).exists()

    def test_teacher_may_not_reveal(self, world, login):
        child = world.child("吴俊辉")
        response = login("teacher_x").post(
            reverse("registry:child_reveal_id", args=[child.public_id])
        )
        assert response.status_code == 404
        assert not AuditEvent.objects.filter(action="child.id_revealed").exists()

    def test_numbers_are_encrypted_at_rest(self, world, db):
        from django.db import connection

        child = world.child("吴俊辉")
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM registry_child WHERE id = %s", [child.pk])
            row = " ".join(str(v) for v in cursor.fetchone())
            cursor.execute("SELECT * FROM registry_enrollment WHERE child_id = %s", [child.pk])
            row += " ".join(str(v) for v in cursor.fetchone())
        assert child.id_number not in row
        assert child.id_number[6:14] not in row  # not even the birth date part

    def test_duplicate_numbers_are_reported_not_merged(self, world, login):
        original = world.child("吴俊辉")
        services.child_create(
            actor=None,
            name="吴俊",
            village=world.village_a,
            birth_date=date(2016, 5, 2),
            id_number=original.id_number,
        )
        client = login("office")
        assert search(client, q=original.id_number) == ["吴俊", "吴俊辉"]
        response = client.get(reverse("registry:duplicates"))
        assert sorted(names_in(response)) == ["吴俊", "吴俊辉"]
        home = client.get(reverse("registry:home")).content.decode()
        assert "1 个身份证号被多人使用" in home
        # Outside the scope nothing about it shows.
        assert names_in(login("outsider").get(reverse("registry:duplicates"))) == []


class TestChildPage:
    def test_view_is_logged(self, world, login):
        child = world.child("吴俊辉")
        response = login("teacher_x").get(reverse("registry:child_detail", args=[child.public_id]))
        html = response.content.decode()
        assert "吴老大" in html and "13800000001" in html
        assert "培秀苗族乡中心小学" in html
        assert AuditEvent.objects.filter(
            action="child.viewed", object_id=str(child.public_id), actor__username="teacher_x"
        ).exists()

    def test_out_of_scope_is_404_and_the_attempt_is_logged(self, world, login):
        child = world.child("吴俊辉")
        response = login("outsider").get(reverse("registry:child_detail", args=[child.public_id]))
        assert response.status_code == 404
        event = AuditEvent.objects.get(action="child.access_denied")
        assert event.actor.username == "outsider"
        assert event.data == {"child": str(child.public_id)}
        assert not AuditEvent.objects.filter(action="child.viewed").exists()

    def test_missing_and_malformed_ids_are_404_without_noise(self, world, login):
        client = login("office")
        for bad in ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "450225201605020011"]:
            assert client.get(f"/children/{bad}/").status_code == 404
        assert not AuditEvent.objects.filter(action="child.access_denied").exists()

    def test_history_of_enrollment_events(self, world, login):
        enrollment = world.enrollment("伍军辉")
        services.enrollment_event_record(
            actor=None,
            enrollment=enrollment,
            kind="transfer_out",
            on=date(2025, 3, 1),
            other_school_name="东莞市长安镇中心小学",
            reference="转学〔2025〕3号",
        )
        child = world.child("伍军辉")
        assert child.school_status == Child.SchoolStatus.NOT_ENROLLED
        html = login("office").get(reverse("registry:child_detail", args=[child.public_id]))
        text = html.content.decode()
        assert "东莞市长安镇中心小学" in text and "转学〔2025〕3号" in text

    def test_detail_query_count(self, world, login, django_assert_num_queries):
        child = world.child("吴俊辉")
        client = login("office")
        url = reverse("registry:child_detail", args=[child.public_id])
        client.get(url)
        # session, user, roles, child, audit insert, guardians, enrollments, their events and
        # other schools (prefetched), siblings, the latest reconciliation result, the cases,
        # the records merged into it and its open discrepancies
        with django_assert_num_queries(13):
            client.get(url)


class TestHome:
    def test_counts_in_scope(self, world, login):
        html = login("village_a").get(reverse("registry:home")).content.decode()
        assert 'data-testid="count-total">3<' in html
        assert 'data-testid="count-in-school">2<' in html
        assert 'data-testid="count-not-enrolled">1<' in html
        assert "高岜村" not in html

    def test_county_counts_cover_both_townships(self, world, login):
        html = login("county").get(reverse("registry:home")).content.decode()
        assert 'data-testid="count-total">6<' in html
        assert "江门村" in html and "安陲乡中心小学" in html

    def test_home_query_count(self, world, login, django_assert_num_queries):
        client = login("office")
        client.get(reverse("registry:home"))
        # session, user, roles; village names, counts by village, school names, counts by
        # school, registered total, shared ID numbers; the cases naming the user, the open
        # cases by village and school; the latest run of each area (none yet: nothing to count);
        # the households the user is still to visit
        with django_assert_num_queries(13):
            client.get(reverse("registry:home"))

    def test_user_without_roles_is_told(self, world, login):
        html = login("nobody").get(reverse("registry:home")).content.decode()
        assert "尚未分配工作范围" in html


class TestLogin:
    def test_lockout_after_repeated_failures(self, world, client):
        url = reverse("accounts:login")
        for _ in range(5):
            client.post(url, {"username": "office", "password": "wrong"})
        response = client.post(url, {"username": "office", "password": "persona-pass-123"})
        assert response.status_code == 429
        assert "已暂时锁定" in response.content.decode()

    def test_login_works(self, world, client):
        response = client.post(
            reverse("accounts:login"), {"username": "office", "password": "persona-pass-123"}
        )
        assert response.status_code == 302
        assert client.get(reverse("registry:home")).status_code == 200

    @pytest.mark.parametrize("language,text", [("en", "Children"), ("zh-hans", "儿童名册")])
    def test_language(self, world, login, language, text):
        client = login("office")
        client.post(reverse("set_language"), {"language": language})
        assert text in client.get(reverse("registry:child_list")).content.decode()


class TestSchoolAndVillagePages:
    def test_school_page_lists_its_students_in_scope(self, world, login):
        url = reverse("registry:school_detail", args=[world.school_x.public_id])
        assert sorted(names_in(login("principal_x").get(url))) == ["伍军辉", "吴俊辉"]
        assert names_in(login("village_a").get(url)) == ["吴俊辉"]  # only their village's

    def test_village_page(self, world, login):
        url = reverse("registry:village_detail", args=[world.village_a.pk])
        html = login("village_a").get(url).content.decode()
        assert "上寨屯" in html and "下寨屯" in html
        assert sorted(names_in(login("village_a").get(url))) == ["吴俊辉", "杨光明", "龙雨欣"]

    def test_group_url_shows_its_village(self, world, login):
        group = world.village_a.children.get(name="上寨屯")
        response = login("village_a").get(reverse("registry:village_detail", args=[group.pk]))
        assert response.status_code == 200
        assert 'data-testid="village-name">乌岭村<' in response.content.decode()

    def test_township_is_not_a_village_page(self, world, login):
        url = reverse("registry:village_detail", args=[world.township.pk])
        assert login("office").get(url).status_code == 404

    @pytest.mark.parametrize(
        ("page", "expected"),
        [("school_detail", 8), ("village_detail", 11), ("school_list", 6), ("village_list", 6)],
    )
    def test_query_counts(self, world, login, django_assert_num_queries, page, expected):
        args = {
            "school_detail": [world.school_x.public_id],
            "village_detail": [world.village_a.pk],
        }.get(page)
        client = login("office")
        url = reverse(f"registry:{page}", args=args)
        client.get(url)
        with django_assert_num_queries(expected):
            client.get(url)


def test_list_paginates(world, login):
    for i in range(55):
        services.child_create(actor=None, name=f"潘{i:02d}", village=world.village_a)
    client = login("office")
    first = client.get(reverse("registry:child_list"), {"q": "潘"})
    assert len(names_in(first)) == 50
    assert "第 1 / 2 页" in first.content.decode()
    second = client.get(reverse("registry:child_list"), {"q": "潘", "page": 2})
    assert len(names_in(second)) == 5
    assert client.get(reverse("registry:child_list"), {"page": "999"}).status_code == 200


def test_not_found_page_is_friendly_and_scoped(world, login):
    response = login("outsider").get(
        reverse("registry:child_detail", args=[world.child("吴俊辉").public_id])
    )
    html = response.content.decode()
    assert response.status_code == 404
    assert "不在您的工作范围内" in html
    assert "吴俊辉" not in html


def test_huge_results_are_counted_only_up_to_the_cap(world, login, settings):
    settings.BAOXUE_LIST_COUNT_CAP = 60
    for i in range(61):
        services.child_create(actor=None, name=f"潘{i:02d}", village=world.village_a)
    client = login("office")
    response = client.get(reverse("registry:child_list"), {"q": "潘"})
    assert "超过 60 人" in response.content.decode()
    assert len(names_in(response)) == 50
    html = client.get(reverse("registry:child_list"), {"q": "wjh"}).content.decode()
    assert "共 2 人" in html
