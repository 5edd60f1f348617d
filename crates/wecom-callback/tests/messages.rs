//! parse_message on WeCom's own examples (path/90239, 90240, 90973), and the fine points of
//! the tree.

use serde_json::{json, Value};
use wecom_callback::parse_message;

fn parse(xml: &str) -> Value {
    Value::Object(parse_message(xml.as_bytes()).unwrap())
}

#[test]
fn text_message() {
    let xml = "<xml>
   <ToUserName><![CDATA[toUser]]></ToUserName>
   <FromUserName><![CDATA[fromUser]]></FromUserName>
   <CreateTime>1348831860</CreateTime>
   <MsgType><![CDATA[text]]></MsgType>
   <Content><![CDATA[this is a test]]></Content>
   <MsgId>1234567890123456</MsgId>
   <AgentID>1</AgentID>
</xml>";
    assert_eq!(
        parse(xml),
        json!({
            "ToUserName": "toUser", "FromUserName": "fromUser", "CreateTime": "1348831860",
            "MsgType": "text", "Content": "this is a test", "MsgId": "1234567890123456",
            "AgentID": "1"
        })
    );
}

#[test]
fn image_message() {
    let xml = "<xml>
   <ToUserName><![CDATA[toUser]]></ToUserName>
   <FromUserName><![CDATA[fromUser]]></FromUserName>
   <CreateTime>1348831860</CreateTime>
   <MsgType><![CDATA[image]]></MsgType>
   <PicUrl><![CDATA[http://www.qq.com/xxx.jpg]]></PicUrl>
   <MediaId><![CDATA[media_id]]></MediaId>
   <MsgId>1234567890123456</MsgId>
   <AgentID>1</AgentID>
</xml>";
    let msg = parse(xml);
    assert_eq!(msg["MsgType"], "image");
    assert_eq!(msg["PicUrl"], "http://www.qq.com/xxx.jpg");
    assert_eq!(msg["MediaId"], "media_id");
    assert_eq!(msg["MsgId"], "1234567890123456");
}

#[test]
fn location_message() {
    let xml = "<xml>
   <ToUserName><![CDATA[toUser]]></ToUserName>
   <FromUserName><![CDATA[fromUser]]></FromUserName>
   <CreateTime>1351776360</CreateTime>
   <MsgType><![CDATA[location]]></MsgType>
   <Location_X>23.134</Location_X>
   <Location_Y>113.358</Location_Y>
   <Scale>20</Scale>
   <Label><![CDATA[位置信息]]></Label>
   <MsgId>1234567890123456</MsgId>
   <AgentID>1</AgentID>
   <AppType><![CDATA[wxwork]]></AppType>
</xml>";
    let msg = parse(xml);
    assert_eq!(msg["Location_X"], "23.134");
    assert_eq!(msg["Location_Y"], "113.358");
    assert_eq!(msg["Scale"], "20");
    assert_eq!(msg["Label"], "位置信息");
    assert_eq!(msg["AppType"], "wxwork"); // not in our table: kept
}

#[test]
fn click_event() {
    let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[EVENTKEY]]></EventKey><AgentID>1</AgentID></xml>";
    assert_eq!(
        parse(xml),
        json!({
            "ToUserName": "toUser", "FromUserName": "FromUser", "CreateTime": "123456789",
            "MsgType": "event", "Event": "click", "EventKey": "EVENTKEY", "AgentID": "1"
        })
    );
}

#[test]
fn enter_agent_event_with_an_empty_key() {
    let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>1408091189</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID></xml>";
    assert_eq!(parse(xml)["EventKey"], "");
    assert_eq!(parse("<xml><EventKey/></xml>")["EventKey"], "");
    assert_eq!(parse("<xml><EventKey></EventKey></xml>")["EventKey"], "");
}

#[test]
fn scancode_waitmsg_event() {
    let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408090606</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[scancode_waitmsg]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
<ScanResult><![CDATA[2]]></ScanResult>
</ScanCodeInfo>
<AgentID>1</AgentID>
</xml>";
    let msg = parse(xml);
    assert_eq!(msg["Event"], "scancode_waitmsg");
    assert_eq!(
        msg["ScanCodeInfo"],
        json!({"ScanType": "qrcode", "ScanResult": "2"})
    );
}

#[test]
fn pic_photo_or_album_event_with_two_pictures() {
    let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408090816</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[pic_photo_or_album]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>2</Count>
<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>
</item>
<item><PicMd5Sum><![CDATA[1c4ba5ac6dcb7c52a9a54c04d2f8b3a1]]></PicMd5Sum>
</item>
</PicList>
</SendPicsInfo>
<AgentID>1</AgentID>
</xml>";
    assert_eq!(
        parse(xml)["SendPicsInfo"],
        json!({
            "Count": "2",
            "PicList": {"item": [
                {"PicMd5Sum": "5a75aaca956d97be686719218f275c6b"},
                {"PicMd5Sum": "1c4ba5ac6dcb7c52a9a54c04d2f8b3a1"}
            ]}
        })
    );
    // One picture: the item is a plain object (readers accept both).
    let one = xml.replace(
        "<item><PicMd5Sum><![CDATA[1c4ba5ac6dcb7c52a9a54c04d2f8b3a1]]></PicMd5Sum>\n</item>\n",
        "",
    );
    assert_eq!(
        parse(&one)["SendPicsInfo"]["PicList"],
        json!({"item": {"PicMd5Sum": "5a75aaca956d97be686719218f275c6b"}})
    );
}

#[test]
fn template_card_event_with_selected_items() {
    let xml = "<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[template_card_event]]></Event>
<EventKey><![CDATA[key111]]></EventKey>
<TaskId><![CDATA[taskid111]]></TaskId>
<CardType><![CDATA[vote_interaction]]></CardType>
<ResponseCode><![CDATA[ResponseCode]]></ResponseCode>
<AgentID>1</AgentID>
<SelectedItems>
    <SelectedItem>
        <QuestionKey><![CDATA[QuestionKey1]]></QuestionKey>
        <OptionIds>
            <OptionId><![CDATA[OptionId1]]></OptionId>
            <OptionId><![CDATA[OptionId2]]></OptionId>
        </OptionIds>
    </SelectedItem>
    <SelectedItem>
        <QuestionKey><![CDATA[QuestionKey2]]></QuestionKey>
        <OptionIds>
            <OptionId><![CDATA[OptionId3]]></OptionId>
            <OptionId><![CDATA[OptionId4]]></OptionId>
        </OptionIds>
    </SelectedItem>
</SelectedItems>
</xml>";
    let msg = parse(xml);
    assert_eq!(msg["TaskId"], "taskid111");
    assert_eq!(msg["CardType"], "vote_interaction");
    assert_eq!(msg["ResponseCode"], "ResponseCode");
    assert_eq!(
        msg["SelectedItems"],
        json!({"SelectedItem": [
            {"QuestionKey": "QuestionKey1", "OptionIds": {"OptionId": ["OptionId1", "OptionId2"]}},
            {"QuestionKey": "QuestionKey2", "OptionIds": {"OptionId": ["OptionId3", "OptionId4"]}}
        ]})
    );
}

#[test]
fn change_contact_update_user() {
    let xml = "<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[sys]]></FromUserName>
<CreateTime>1403610513</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[change_contact]]></Event>
<ChangeType><![CDATA[update_user]]></ChangeType>
<UserID><![CDATA[zhangsan]]></UserID>
<NewUserID><![CDATA[zhangsan001]]></NewUserID>
<Name><![CDATA[张三]]></Name>
<Department><![CDATA[1,2,3]]></Department>
<MainDepartment>1</MainDepartment>
<IsLeaderInDept><![CDATA[1,0,0]]></IsLeaderInDept>
<DirectLeader><![CDATA[lisi,wangwu]]></DirectLeader>
<Position><![CDATA[产品经理]]></Position>
<Mobile>13800000000</Mobile>
<Gender>1</Gender>
<Email><![CDATA[zhangsan@gzdev.com]]></Email>
<BizMail><![CDATA[zhangsan@qyycs2.wecom.work]]></BizMail>
<Status>1</Status>
<Avatar><![CDATA[http://wx.qlogo.cn/mmopen/ajNVdqHZLLA3WJ6DSZUfiakYe37PKnQhBIeOQBO4czqrnZDS79FH5Wm5m4X69TBicnHFlhiafvDwklOpZeXYQQ2icg/0]]></Avatar>
<Alias><![CDATA[zhangsan]]></Alias>
<Telephone><![CDATA[020-123456]]></Telephone>
<Address><![CDATA[广州市]]></Address>
<ExtAttr>
    <Item>
    <Name><![CDATA[爱好]]></Name>
    <Type>0</Type>
    <Text>
        <Value><![CDATA[旅游]]></Value>
    </Text>
    </Item>
    <Item>
    <Name><![CDATA[卡号]]></Name>
    <Type>1</Type>
    <Web>
        <Title><![CDATA[企业微信]]></Title>
        <Url><![CDATA[https://work.weixin.qq.com]]></Url>
    </Web>
    </Item>
</ExtAttr>
</xml>";
    let msg = parse(xml);
    assert_eq!(msg["FromUserName"], "sys");
    assert_eq!(msg["ChangeType"], "update_user");
    assert_eq!(msg["UserID"], "zhangsan");
    assert_eq!(msg["NewUserID"], "zhangsan001");
    assert_eq!(msg["Name"], "张三");
    assert_eq!(msg["Department"], "1,2,3");
    assert_eq!(msg["IsLeaderInDept"], "1,0,0");
    assert_eq!(msg["Position"], "产品经理");
    assert_eq!(msg["Mobile"], "13800000000");
    assert_eq!(
        msg["ExtAttr"],
        json!({"Item": [
            {"Name": "爱好", "Type": "0", "Text": {"Value": "旅游"}},
            {"Name": "卡号", "Type": "1", "Web": {"Title": "企业微信", "Url": "https://work.weixin.qq.com"}}
        ]})
    );
    // Since 2022-08-15 a member's callback may carry only UserID and Department.
    let slim = parse("<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event><ChangeType>update_user</ChangeType><UserID><![CDATA[zhangsan]]></UserID><Department><![CDATA[1]]></Department></xml>");
    assert_eq!(slim["UserID"], "zhangsan");
    assert!(slim.get("Name").is_none());
}

#[test]
fn batch_job_result_event() {
    let xml = "<xml><ToUserName><![CDATA[wx28dbb14e3720FAKE]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1425284517</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[batch_job_result]]></Event><BatchJob><JobId><![CDATA[S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4]]></JobId><JobType><![CDATA[sync_user]]></JobType><ErrCode>0</ErrCode><ErrMsg><![CDATA[ok]]></ErrMsg></BatchJob></xml>";
    assert_eq!(
        parse(xml)["BatchJob"],
        json!({
            "JobId": "S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4", "JobType": "sync_user",
            "ErrCode": "0", "ErrMsg": "ok"
        })
    );
}

#[test]
fn unknown_event_keeps_every_field() {
    let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[some_event_from_2030]]></Event><NewField><![CDATA[v]]></NewField><Deep><Er><Est>x</Est></Er></Deep><Many>1</Many><Many>2</Many><Many>3</Many></xml>";
    assert_eq!(
        parse(xml),
        json!({
            "ToUserName": "toUser", "FromUserName": "sys", "CreateTime": "1700000000",
            "MsgType": "event", "Event": "some_event_from_2030", "NewField": "v",
            "Deep": {"Er": {"Est": "x"}}, "Many": ["1", "2", "3"]
        })
    );
}

#[test]
fn text_entities_cdata_and_whitespace() {
    let msg = parse(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- a comment -->\n<xml><!-- inside -->\
         <A>&lt;b&gt; &amp; &quot;q&quot; &apos;s&apos; &#x4E2D;&#25991;</A>\
         <B><![CDATA[<not a tag> &amp; ]]]]><![CDATA[>]]></B>\
         <C>  two  spaces  </C><D>line\r\nend\rx</D><E>mix<![CDATA[ed]]> &amp; more</E>\
         <F a=\"attr\">attributes are ignored</F></xml>\n",
    );
    assert_eq!(msg["A"], "<b> & \"q\" 's' 中文");
    assert_eq!(msg["B"], "<not a tag> &amp; ]]>");
    assert_eq!(msg["C"], "  two  spaces  ");
    assert_eq!(msg["D"], "line\nend\nx");
    assert_eq!(msg["E"], "mixed & more");
    assert_eq!(msg["F"], "attributes are ignored");
}

#[test]
fn a_byte_order_mark_and_an_empty_root() {
    assert_eq!(parse("\u{feff}<xml><A>1</A></xml>"), json!({"A": "1"}));
    assert_eq!(parse("<xml/>"), json!({}));
    assert_eq!(parse("<xml>\n  </xml>"), json!({}));
}
